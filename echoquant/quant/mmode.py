"""M-mode measurement: walls and cavity traced along time, every beat measured.

The strip (depth down, time along) is traced by dynamic programming: each boundary is
the path through the columns that collects the most edge contrast of its kind while
moving at most a few pixels from one column to the next. First the LV cavity's two
borders (the septal endocardium, bright above dark; the posterior endocardium, dark
above bright) inside the darkest wide band of the strip, then the septum's right
ventricular side and the posterior epicardium at a wall's thickness from them. ED is
each ECG R wave (when the ECG shares the strip's time axis), else the instant the walls
moving with the cavity are at their end-diastolic extreme (the four traces weighted by
their tracing noise, :func:`_ed_timing_curve`; the largest diameter when none moves with
it); ES the smallest diameter before the next ED, both placed below a column by fitting
the curve's two flanks around the extreme (:func:`_extremum`).

Formulas (diameters at ED and ES of each beat; the summary is the median over beats):

* FS = (LVIDd - LVIDs) / LVIDd;
* Teichholz volume ``V = 7 / (2.4 + D) D^3``: human D in cm gives mL; the rodent
  convention (VisualSonics Vevo LAB) puts D in mm and reads µL;
* LV mass, human: ASE cube formula (Devereux), ``0.8 x 1.04 x [(IVSd + LVIDd +
  LVPWd)^3 - LVIDd^3] + 0.6`` g with cm; rodent: ``0.8 x 1.053 x [(IVSd + LVIDd +
  LVPWd)^3 - LVIDd^3]`` mg with mm (1.053 mg/mm^3 myocardial density; the 0.8 is the
  same correction the ASE formula applies, Vevo's "LV Mass Corrected").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from scipy.signal import find_peaks, savgol_filter

from echoquant.flags import make_flag
from echoquant.quant.cycle import cycle_frames

__all__ = ["teichholz_ml", "lv_mass", "MModeBeat", "MModeResult", "trace_walls", "measure_mmode",
           "MMODE_PLAUSIBLE"]

# Half-width of the window fitted around ED (without an ECG) and ES, as a share of the
# beat. Chosen on two generated human suites (write_mmode_suite seeds 18,000 and 424,242;
# ES 0.15-0.25 and ED 0.05-0.25 tried), then measured on fresh seeds in docs/mmode_eval.md:
# the fit must reach the steep part of rapid filling, or a flat minimum is placed by the
# noise.
ED_FIT_HALF_WIDTH = 0.15
ES_FIT_HALF_WIDTH = 0.2

# Blood-side gate of the endocardial edges, as a share of the way from the cavity's median
# grey to the cavity band's threshold. Both the edge's own rows and three edge widths on
# its blood side must be under it. Chosen on generated sweeps (rodent seeds 9,100, human
# 9,200: 0.5 and 0.7 both mend a mouse whose posterior endocardium was read at the
# pericardium, LVIDd +18 %), checked on fresh ones (9,300, 9,400): largest FS error 3.9 -> 1.7
# points (rodent), 1.54 -> 1.51 (human).
_BLOOD_GATE = 0.6

# Plausible values by species (outside: withheld with a flag).
MMODE_PLAUSIBLE = {
    "human": {"lvidd_mm": (25.0, 90.0), "fs_pct": (3.0, 70.0), "ivsd_mm": (3.0, 30.0), "lvpwd_mm": (3.0, 30.0)},
    "rodent": {"lvidd_mm": (1.5, 12.0), "fs_pct": (3.0, 75.0), "ivsd_mm": (0.2, 3.5), "lvpwd_mm": (0.2, 3.5)},
}


def teichholz_ml(d_mm: float, rodent: bool) -> float:
    """Teichholz volume (mL) of an internal diameter (mm): the human formula in cm and
    mL, or the rodent (Vevo) convention in mm and µL, returned in mL."""
    d = d_mm if rodent else d_mm / 10.0
    v = 7.0 / (2.4 + d) * d**3
    return v / 1000.0 if rodent else v


def lv_mass(ivsd_mm: float, lvidd_mm: float, lvpwd_mm: float, rodent: bool) -> float:
    """LV mass by the cube formula: grams for humans (ASE, cm), milligrams for rodents
    (mm, 1.053 mg/mm^3), both with the 0.8 correction."""
    if rodent:
        return 0.8 * 1.053 * ((ivsd_mm + lvidd_mm + lvpwd_mm) ** 3 - lvidd_mm**3)
    cm = np.array([ivsd_mm, lvidd_mm, lvpwd_mm]) / 10.0
    return float(0.8 * 1.04 * ((cm.sum()) ** 3 - cm[1] ** 3) + 0.6)


@dataclass
class MModeBeat:
    """One beat: ED and ES times (s from the strip's first column; columns when the
    strip has no time axis) and the values at them (lengths in pixels when the strip
    has no depth calibration)."""

    ed_time: float
    es_time: float
    lvidd_mm: float
    lvids_mm: float
    ivsd_mm: float
    ivss_mm: float
    lvpwd_mm: float
    lvpws_mm: float
    fs_pct: float
    lvef_teichholz_pct: float
    lv_mass: float


@dataclass
class MModeResult:
    """Everything measured on one M-mode strip.

    Attributes:
        summary: ``lvidd_mm, lvids_mm, ivsd_mm, ivss_mm, lvpwd_mm, lvpws_mm, fs_pct,
            lvef_teichholz_pct, edv_teichholz_ml, esv_teichholz_ml, lv_mass_g`` (human) or
            ``lv_mass_mg`` (rodent), ``heart_rate_bpm_measured, n_beats, n_beats_left_out,
            species``
            (medians over beats; None when withheld). Lengths are in pixels, not mm,
            without a depth calibration (``unit``).
        beats: per-beat values.
        boundaries_px: ``(4, T)`` traced rows: septum top (RV side), septal
            endocardium, posterior endocardium, posterior epicardium.
        flags: ``"code: reason"`` strings.
    """

    summary: dict[str, Any]
    beats: list[MModeBeat] = field(default_factory=list)
    boundaries_px: np.ndarray | None = field(default=None, repr=False)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from echoquant.quant.result import json_safe

        return json_safe({"summary": self.summary, "beats": [asdict(b) for b in self.beats], "flags": self.flags,
                       "boundaries_px": None if self.boundaries_px is None else np.round(self.boundaries_px, 2)})


# ------------------------------------------------------------------- tracing


def _dp_path(score: np.ndarray, max_step: int, penalty: float) -> np.ndarray:
    """Row index per column maximising the summed ``score`` minus ``penalty`` per row
    moved, moving at most ``max_step`` rows between columns (Viterbi)."""
    rows, cols = score.shape
    total = score[:, 0].copy()
    back = np.zeros((rows, cols), dtype=np.int32)
    offsets = np.arange(-max_step, max_step + 1)
    idx = np.arange(rows)
    pen = penalty * np.abs(offsets).astype(np.float64)[:, None]
    padded = np.full(rows + 2 * max_step, -np.inf)
    for t in range(1, cols):
        # Row r may come from row r - o for every offset o: one window of the padded
        # totals per offset (offsets ascending, so ties keep the smallest offset).
        padded[max_step:max_step + rows] = total
        cand = np.lib.stride_tricks.sliding_window_view(padded, rows)[::-1] - pen
        k = np.argmax(cand, axis=0)
        best = cand[k, idx]
        total = best + score[:, t]
        back[:, t] = np.where(np.isfinite(best), idx - offsets[k], 0)
    path = np.zeros(cols, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(cols - 1, 0, -1):
        path[t - 1] = back[path[t], t]
    return path


def _sides(img: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the ``k`` rows above and the ``k`` rows below each row."""
    pad = np.pad(img, ((k, k), (0, 0)), mode="edge")
    c = np.cumsum(pad, axis=0)
    c = np.vstack([np.zeros((1, img.shape[1])), c])
    rows = np.arange(img.shape[0]) + k
    return (c[rows] - c[rows - k]) / k, (c[rows + k + 1] - c[rows + 1]) / k


def _edge(img: np.ndarray, k: int, rising: bool) -> np.ndarray:
    """Edge contrast at each row: mean of ``k`` rows below minus ``k`` rows above (a
    dark-to-bright step going down) or the reverse."""
    above, below = _sides(img, k)
    return below - above if rising else above - below


def _subpixel(score: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Parabolic refinement of a path to the peak of its score column by column."""
    t = np.arange(score.shape[1])
    p = np.clip(path, 1, score.shape[0] - 2)
    a, b, c = score[p - 1, t], score[p, t], score[p + 1, t]
    den = a - 2 * b + c
    shift = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    return p + np.clip(shift, -0.5, 0.5)


def _cavity_band(img: np.ndarray) -> tuple[int, int, float] | None:
    """Rows of the darkest wide band of the time-averaged strip (the LV cavity): the
    widest run below the dark threshold that has tissue both above and below it; and
    that threshold (grey level below which a pixel is blood)."""
    profile = gaussian_filter1d(img.mean(axis=1), 2.0)
    lo, hi = np.percentile(profile, 5), np.percentile(profile, 95)
    if hi - lo < 10:
        return None
    dark = profile < lo + 0.3 * (hi - lo)
    runs, start = [], None
    for i, d in enumerate(np.append(dark, False)):
        if d and start is None:
            start = i
        elif not d and start is not None:
            runs.append((start, i))
            start = None
    runs = [r for r in runs if r[0] > 0 and r[1] < len(profile)]
    if not runs:
        return None
    top, bottom = max(runs, key=lambda r: r[1] - r[0])
    return top, bottom, float(lo + 0.35 * (hi - lo))


def trace_walls(strip: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Trace the four boundaries of an M-mode strip.

    Returns:
        ``(boundaries (4, T) rows, edge contrast)``: septum top, septal endocardium,
        posterior endocardium, posterior epicardium (sub-pixel rows), and the median
        edge contrast of the two endocardial borders in grey levels; None when the
        strip shows no cavity.
    """
    # little smoothing along time: it would shift the asymmetric ES minimum toward systole
    img = gaussian_filter(strip.astype(np.float32), (1.0, 0.5))
    band = _cavity_band(img)
    if band is None:
        return None
    top, bottom, dark = band
    width = bottom - top
    k = max(2, int(round(0.04 * width)))
    max_step = max(2, int(round(0.03 * width)))
    penalty = 0.5
    rows = img.shape[0]
    above, below = _sides(img, k)
    # The endocardial borders have blood on their cavity side: an edge with tissue on
    # both sides (epicardium against pericardium) or far from the band (chest wall
    # against the RV) is not one. Blood is judged over the edge's width and over three: a
    # dark speckle streak in the posterior wall is a few rows thick, and above the
    # pericardium (the brightest echo) it would otherwise pass for the cavity; the wider
    # window alone lets a streak just inside the wall pass. The walls move by about a
    # quarter of the cavity.
    blood_above, blood_below = _sides(img, 3 * k)
    # "Dark" is judged against the cavity's own grey level: the band's threshold sits at a
    # third of the way to the strip's brightest echoes, and next to a very bright
    # pericardium a dim posterior wall falls under it.
    cavity = float(np.median(img[top:bottom]))
    dark = cavity + _BLOOD_GATE * (dark - cavity)
    reach = max(k + 1, int(0.25 * width))
    mid = (top + bottom) // 2
    e_sep = np.where((blood_below < dark) & (below < dark), _edge(img, k, rising=False), 0.0)
    s_sep = np.full_like(e_sep, -1e3)
    s_sep[max(0, top - reach):mid] = e_sep[max(0, top - reach):mid]
    sep = _dp_path(s_sep, max_step, penalty)
    e_pw = np.where((blood_above < dark) & (above < dark), _edge(img, k, rising=True), 0.0)
    s_pw = np.full_like(e_pw, -1e3)
    s_pw[mid:min(rows, bottom + reach)] = e_pw[mid:min(rows, bottom + reach)]
    pw = _dp_path(s_pw, max_step, penalty)
    lvid = pw - sep
    wall_lo, wall_hi = max(2, int(0.07 * np.median(lvid))), max(4, int(0.5 * np.median(lvid)))
    # septum top: dark (RV) above, bright below, a wall's thickness above the septal endocardium
    e_top = _edge(img, k, rising=True)
    s_top = np.full_like(e_top, -1e3)
    # the epicardium is the leading edge of the pericardium, the brightest echo behind the LV
    e_epi = _edge(img, k, rising=True) + 0.25 * below
    s_epi = np.full_like(e_epi, -1e3)
    cols = np.arange(img.shape[1])
    for off in range(wall_lo, wall_hi + 1):
        r = sep - off
        ok = r >= 0
        s_top[r[ok], cols[ok]] = e_top[r[ok], cols[ok]]
        r = pw + off
        ok = r < rows
        s_epi[r[ok], cols[ok]] = e_epi[r[ok], cols[ok]]
    ivs_top = _dp_path(s_top, max_step, penalty)
    pw_epi = _dp_path(s_epi, max_step, penalty)
    out = np.stack([_subpixel(e_top, ivs_top), _subpixel(e_sep, sep), _subpixel(e_pw, pw), _subpixel(e_epi, pw_epi)])
    contrast = float(np.median(np.concatenate([e_sep[sep, cols], e_pw[pw, cols]])))
    return out, contrast


# ------------------------------------------------------------------- beats


def _vertex_fit(curve: np.ndarray, lo: int, hi: int, candidates: np.ndarray, find_max: bool) -> tuple[float, float]:
    """Best vertex among ``candidates`` of one curve per side, ``a + b d^2 + c |d|^3``
    with ``d`` the distance to the vertex, fitted to ``curve[lo:hi]``: ``(position,
    squared error)``; ``(nan, inf)`` when no candidate curves the right way."""
    x = np.arange(lo, hi, dtype=np.float64)
    y = curve[lo:hi]
    best, best_x = np.inf, float("nan")
    for x0 in candidates:
        d = x - x0
        left, d2, d3 = x < x0, d**2, np.abs(d) ** 3
        design = np.stack([np.ones_like(x), np.where(left, d2, 0.0), np.where(left, 0.0, d2),
                           np.where(left, d3, 0.0), np.where(left, 0.0, d3)], axis=1)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        if (find_max and (coef[1] > 0 or coef[2] > 0)) or (not find_max and (coef[1] < 0 or coef[2] < 0)):
            continue
        err = float(((design @ coef - y) ** 2).sum())
        if err < best:
            best, best_x = err, float(x0)
    return best_x, best


def _extremum(curve: np.ndarray, i: int, half: int, find_max: bool) -> float | None:
    """Sub-column position of the extreme near column ``i``: the vertex of two
    half-curves sharing it (quadratic plus cubic in the distance, one each side), fitted
    over ``+/- half`` columns. Systole and relaxation curve differently, and over a
    fifth of a beat neither is a parabola: a plain parabola leans toward the flatter
    side by a few ms. The vertex may lie up to ``half / 2`` columns from ``i``: near a
    flat extreme the lowest sample is decided by the noise, the flanks are not.

    Returns:
        The position, or None when the fit runs into an end of the curve (the extreme
        lies outside the strip, or no vertex curves the right way).
    """
    reach = max(1.0, half / 2.0)
    n = len(curve)
    lo, hi = max(0, i - half), min(n, i + half + 1)
    if hi - lo < 6:
        return None
    candidates = np.arange(max(lo + 1.0, i - reach), min(hi - 2.0, i + reach) + 1e-9, 0.25)
    coarse, _ = _vertex_fit(curve, lo, hi, candidates, find_max)
    if not np.isfinite(coarse):
        return None
    # A fit that runs into the end of the strip wants its vertex beyond it; a vertex
    # with fewer than three columns on one side has no flank there to fit.
    pushed = coarse <= candidates[0] or coarse >= candidates[-1]
    if (pushed and (coarse < reach or coarse > n - 1 - reach)) or not 3 <= coarse <= n - 4:
        return None
    # Refine on a window centred on the coarse vertex, so both flanks weigh alike.
    c = int(round(coarse))
    lo, hi = max(0, c - half), min(n, c + half + 1)
    fine, _ = _vertex_fit(curve, lo, hi, np.arange(coarse - 0.5, coarse + 0.5001, 0.05), find_max)
    return fine if np.isfinite(fine) else coarse


def _usable_r_waves(r_waves: np.ndarray | None, period: float, n: int) -> np.ndarray | None:
    """R waves (columns) when they beat at the rhythm of the diameter curve: median RR
    within 20 % of its cycle and no RR off by more than a quarter (a T wave taken for an
    R wave, a missed R); None otherwise."""
    if r_waves is None:
        return None
    r = np.asarray([x for x in r_waves if 0 <= x < n], dtype=np.float64)
    if len(r) < 2:
        return None
    rr = np.diff(r)
    med = float(np.median(rr))
    if abs(med - period) > 0.2 * period or np.max(np.abs(rr - med)) > 0.25 * med:
        return None
    return r


# The walls' traces that time ED without an ECG, and the sign of their correlation with
# the diameter when they move with it: the septum moves away from the probe in systole,
# the posterior wall toward it. A trace correlating less than this with the diameter (the
# wrong way, as a paradoxical septum does, or late: a wall lagging by a tenth of a beat
# correlates 0.65-0.7, by a twentieth 0.9) is left out, so that a dyssynchronous wall
# cannot drag ED far from the largest diameter. Traced walls of generated screens
# correlate 0.93-1.0.
_WALL_SIGNS = (-1.0, -1.0, 1.0, 1.0)
_WALL_MIN_CORRELATION = 0.9


def _ed_timing_curve(bounds: np.ndarray, lvid: np.ndarray, period: float) -> np.ndarray:
    """The curve whose maxima are the EDs when there is no ECG: the four traced walls'
    motion, each scaled to its excursion and weighted by the inverse of its tracing noise
    (the least-squares combination of traces sharing one time course).

    The end-diastolic maximum of the diameter is flat (the atrial kick ends in it): within
    +/- 20 ms of ED a human LV changes by less than the tracing error, and the septal
    endocardium's error repeats beat after beat at the same phase (its speckle moves with
    it). The pericardium behind the posterior wall is the sharpest edge of the strip, so
    the walls together time ED better than the diameter alone (docs/mmode_eval.md).
    Noise is what a quadratic smoother over an eighth of a beat leaves.
    """
    n = bounds.shape[1]
    win = max(5, int(period / 8) | 1)
    if n <= win:
        return lvid
    out = np.zeros(n)
    for trace, sign in zip(bounds, _WALL_SIGNS):
        r = np.corrcoef(trace, lvid)[0, 1]
        excursion = float(np.percentile(trace, 95) - np.percentile(trace, 5))
        if not np.isfinite(r) or sign * r < _WALL_MIN_CORRELATION or excursion <= 0:
            continue
        motion = sign * trace / excursion
        noise = float(np.std(motion - savgol_filter(motion, win, 2)))
        out += motion / max(noise, 1e-6) ** 2
    return out if out.any() else lvid


def _beats(lvid: np.ndarray, r_waves: np.ndarray | None, seconds_per_px: float | None,
           heart_rate_bpm: float | None, bounds: np.ndarray | None = None) -> tuple[list[tuple[float, float]], str]:
    """``(ED column, ES column)`` of every beat whose ES lies in the strip, and where ED
    came from (``"ecg"``, or ``"walls"`` when the traced ``bounds`` time it, else
    ``"diameter"``)."""
    n = len(lvid)
    period = cycle_frames(lvid, 8, n / 2, min_correlation=0.3)
    if period is None and heart_rate_bpm and seconds_per_px:
        period = 60.0 / heart_rate_bpm / seconds_per_px
    if period is None:
        return [], "diameter"
    win = max(5, int(period / 16) | 1)
    smooth = savgol_filter(lvid, win, 2) if n > win else lvid
    ed_half = max(3, int(round(ED_FIT_HALF_WIDTH * period)))
    es_half = max(3, int(round(ES_FIT_HALF_WIDTH * period)))
    r = _usable_r_waves(r_waves, period, n)
    if r is not None:
        eds, source = [float(x) for x in r], "ecg"
    else:
        timing = lvid if bounds is None else _ed_timing_curve(bounds, lvid, period)
        source = "diameter" if timing is lvid else "walls"
        peaks, _ = find_peaks(savgol_filter(timing, win, 2) if n > win else timing, distance=max(1, int(0.6 * period)))
        found = (_extremum(timing, int(p), ed_half, True) for p in peaks)
        eds = [x for x in found if x is not None]
    out = []
    for j, ed in enumerate(eds):
        stop = eds[j + 1] if j + 1 < len(eds) else min(n - 1, ed + period)
        lo, hi = int(np.ceil(ed)), int(np.floor(stop))
        if hi - lo < 4:
            continue
        i = lo + int(np.argmin(smooth[lo:hi + 1]))
        if i in (lo, hi) or i >= n - 2 or i - ed < 0.15 * period:
            continue  # no minimum inside the beat, or the strip ends before ES
        es = _extremum(lvid, i, es_half, False)
        # Ejection takes at least a fifth of the cycle: a dip closer to ED is a bump of
        # diastasis taken for an ED near the strip's end, not a systole.
        if es is not None and es - ed >= 0.2 * period:
            out.append((ed, es))
    return out, source


def _drop_shallow_beats(pairs: list[tuple[float, float]], lvid: np.ndarray) -> list[tuple[float, float]]:
    """Leave out a beat that shortens by less than half the median beat's shortening: a
    bump of diastasis at the strip's end read as an ED (its 'systole' is the strip's
    last columns), or an ectopic beat, which M-mode measurement leaves out too."""
    if len(pairs) < 3:
        return pairs
    drop = np.array([_at(lvid, ed) - _at(lvid, es) for ed, es in pairs])
    keep = drop >= 0.5 * float(np.median(drop))
    return [pair for pair, ok in zip(pairs, keep) if ok]


def _at(curve: np.ndarray, x: float) -> float:
    return float(np.interp(x, np.arange(len(curve)), curve))


def _species(lvidd_mm: float | None, heart_rate_bpm: float | None, species: str | None) -> str:
    if species in ("human", "rodent"):
        return species
    if species in ("mouse", "rat"):
        return "rodent"
    if heart_rate_bpm is not None:
        return "rodent" if heart_rate_bpm >= 240 else "human"
    return "rodent" if lvidd_mm is not None and lvidd_mm < 15.0 else "human"


# Blood is far darker than myocardium: the cavity's median grey level must be below
# this share of the walls', and below them by this many grey levels. Layered non-cardiac
# tissue moving with breathing reaches 0.71 and 44 in generated strips, hearts 0.57 and 87.
_CAVITY_RATIO, _CAVITY_STEP = 0.65, 50.0


def _not_a_ventricle(strip: np.ndarray, bounds: np.ndarray, lvid: np.ndarray) -> str | None:
    """Why the traced band is not a beating LV (None when it is one)."""
    rows = np.arange(strip.shape[0])[:, None]
    cavity = (rows > bounds[1] + 2) & (rows < bounds[2] - 2)
    walls = ((rows > bounds[0]) & (rows < bounds[1])) | ((rows > bounds[2]) & (rows < bounds[3]))
    if not cavity.any() or not walls.any():
        return "no cavity between two walls"
    blood, tissue = float(np.median(strip[cavity])), float(np.median(strip[walls]))
    if blood > _CAVITY_RATIO * tissue or tissue - blood < _CAVITY_STEP:
        return f"the band between the traced walls is not dark like blood (grey {blood:.0f} against walls {tissue:.0f})"
    motion = float(np.percentile(lvid, 95) - np.percentile(lvid, 5)) / max(float(np.median(lvid)), 1e-9)
    if motion < 0.04:
        return f"the cavity changes by only {100 * motion:.1f}% of its diameter"
    return None


def measure_mmode(strip: np.ndarray, *, mm_per_px: float | None, seconds_per_px: float | None,
                  r_wave_times_s: np.ndarray | None = None, heart_rate_bpm: float | None = None,
                  species: str | None = None) -> MModeResult:
    """Measure an M-mode strip.

    Args:
        strip: ``(depth, time)`` grey uint8.
        mm_per_px: depth calibration; None reports lengths in pixels (FS and Teichholz
            EF, which need mm, are then ratios only: FS is kept, EF and mass withheld).
        seconds_per_px: time per column; None reports no heart rate and times in columns.
        r_wave_times_s: ECG R waves on the strip's time axis (ED is each R wave).
        heart_rate_bpm: the header's heart rate (sets the expected beat length).
        species: ``"human"``, ``"mouse"``, ``"rat"`` or ``"rodent"``; from the heart rate
            or the diameter when None.

    Returns:
        An :class:`MModeResult`; no values, with a flag, when no LV is found.
    """
    flags: list[str] = []
    traced = trace_walls(strip)
    empty = {"n_beats": 0, "species": None}
    if traced is None:
        return MModeResult(empty, flags=[make_flag("no_lv", "no dark cavity band between tissue layers: this "
                                                            "strip shows no left ventricle; nothing measured")])
    bounds, contrast = traced
    scale = mm_per_px or 1.0
    lvid = (bounds[2] - bounds[1]) * scale
    why = _not_a_ventricle(strip, bounds, lvid)
    if why:
        return MModeResult(empty, boundaries_px=bounds,
                           flags=[make_flag("no_lv", f"{why}: no beating left ventricle found; nothing measured")])
    r_cols = None
    if r_wave_times_s is not None and seconds_per_px:
        r_cols = np.asarray(r_wave_times_s) / seconds_per_px
    found, ed_source = _beats(lvid, r_cols, seconds_per_px, heart_rate_bpm, bounds)
    pairs = _drop_shallow_beats(found, lvid)
    if r_cols is not None and ed_source != "ecg":
        fallback = "the walls' motion" if ed_source == "walls" else "the largest diameter"
        flags.append(make_flag("ecg_unused", "the ECG's R waves do not follow the rhythm of the LV diameter (a T "
                                             f"wave read as R, or a missed R); ED taken from {fallback}"))
    ivs = (bounds[1] - bounds[0]) * scale
    pw = (bounds[3] - bounds[2]) * scale
    kind = _species(float(np.median(lvid)) if mm_per_px else None, heart_rate_bpm, species)
    rodent = kind == "rodent"
    beats = []
    for ed, es in pairs:
        d, s = _at(lvid, ed), _at(lvid, es)
        edv, esv = teichholz_ml(d, rodent), teichholz_ml(s, rodent)
        beats.append(MModeBeat(
            ed_time=ed * (seconds_per_px or 1.0), es_time=es * (seconds_per_px or 1.0), lvidd_mm=d, lvids_mm=s,
            ivsd_mm=_at(ivs, ed), ivss_mm=_at(ivs, es), lvpwd_mm=_at(pw, ed), lvpws_mm=_at(pw, es),
            fs_pct=100.0 * (d - s) / d, lvef_teichholz_pct=100.0 * (edv - esv) / edv,
            lv_mass=lv_mass(_at(ivs, ed), d, _at(pw, ed), rodent)))
    summary, more = _summarise(beats, kind, mm_per_px is not None, seconds_per_px)
    summary["ed_source"] = ed_source
    # said, not silent: beats found but left out as too shallow to be a systole
    summary["n_beats_left_out"] = len(found) - len(pairs)
    flags += more
    # Walls are lost where the traced border has little contrast (dropout, out of view).
    if contrast < 15.0:
        flags.append(make_flag("walls_faint", f"cavity borders contrast only {contrast:.0f} grey levels; "
                                              "check the traced walls"))
    return MModeResult(summary, beats, bounds, flags)


def _summarise(beats: list[MModeBeat], kind: str, calibrated: bool, seconds_per_px: float | None
               ) -> tuple[dict[str, Any], list[str]]:
    flags = []
    if len(beats) < 2:
        flags.append(make_flag("too_few_beats", f"{len(beats)} beat(s) measured; record at least two beats"))

    def med(key: str) -> float | None:
        v = [getattr(b, key) for b in beats]
        return float(np.median(v)) if v else None

    s: dict[str, Any] = {k: med(k) for k in ("lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm",
                                             "fs_pct", "lvef_teichholz_pct")}
    mass = med("lv_mass")
    rodent = kind == "rodent"
    s.update(lv_mass_g=None if rodent else mass, lv_mass_mg=mass if rodent else None, species=kind,
             n_beats=len(beats), unit="mm" if calibrated else "px")
    if s["lvidd_mm"] is not None and calibrated:
        s["edv_teichholz_ml"] = teichholz_ml(s["lvidd_mm"], rodent)
        s["esv_teichholz_ml"] = teichholz_ml(s["lvids_mm"], rodent)
    else:
        s["edv_teichholz_ml"] = s["esv_teichholz_ml"] = None
    if not calibrated:
        # Lengths are pixels (kept per beat); Teichholz and the cube formula need real
        # lengths; FS is a ratio and stays.
        s.update({k: None for k in ("lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm")})
        s.update(lvef_teichholz_pct=None, lv_mass_g=None, lv_mass_mg=None)
    hr = None
    if seconds_per_px and len(beats) >= 2:
        hr = 60.0 / float(np.median(np.diff([b.ed_time for b in beats])))
    s["heart_rate_bpm_measured"] = hr
    if beats and calibrated:
        for key, (lo, hi) in MMODE_PLAUSIBLE[kind].items():
            v = s.get(key)
            if v is not None and not lo <= v <= hi:
                flags.append(make_flag(f"implausible_{key.split('_')[0]}",
                                       f"{key} = {v:.3g} is outside {lo:g}..{hi:g} for a {kind}; check the traced walls"))
    return s, flags
