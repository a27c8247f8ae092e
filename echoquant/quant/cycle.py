"""End-diastole, end-systole and beats from the volume curve (or ECG R waves)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks, savgol_filter

from echoquant.io.species import HR_BOUNDS_BPM, resolve_species, species_bounds

__all__ = ["Beat", "HR_BOUNDS_BPM", "cycle_frames", "detect_beats", "resolve_species", "species_bounds"]
# HR_BOUNDS_BPM, resolve_species and species_bounds live in echoquant.io.species (the
# segmentation step asks the same question); they stay importable from here.


@dataclass(frozen=True)
class Beat:
    """One analysed beat: ED, the following ES, and the next ED when in the loop."""

    ed: int
    es: int
    next_ed: int | None

    @property
    def complete(self) -> bool:
        return self.next_ed is not None


def _fill_nan(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return x
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def cycle_frames(curve: np.ndarray, shortest: float, longest: float, min_correlation: float = 0.4) -> float | None:
    """The cardiac cycle length (frames) of a periodic curve, from its autocorrelation.

    Only loops holding at least two cycles are measured: the lag is searched in
    ``[shortest, min(longest, len / 2)]`` and must be a local maximum with a
    normalised autocorrelation of at least ``min_correlation``; of such maxima the
    shortest one within 70 % of the best is the cycle (not one of its multiples).

    Returns:
        The cycle length refined to a fraction of a frame, or None when the curve
        shows no clear period.
    """
    x = np.asarray(curve, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    lo, hi = max(2, int(np.floor(shortest))), min(int(np.ceil(longest)), n // 2)
    if hi <= lo + 1 or not np.any(x):
        return None
    lags = np.arange(lo - 1, hi + 2)
    # Normalised per lag (Pearson over the overlap), so short overlaps are not penalised.
    ac = np.array([np.corrcoef(x[:-k], x[k:])[0, 1] if k > 0 else 1.0 for k in lags])
    ac = np.nan_to_num(ac, nan=-1.0)
    inner = np.arange(1, len(lags) - 1)
    peaks = inner[(ac[inner] >= ac[inner - 1]) & (ac[inner] >= ac[inner + 1]) & (ac[inner] >= min_correlation)]
    if len(peaks) == 0:
        return None
    # Multiples of the cycle correlate as well as the cycle (better, when the cycle is
    # not a whole number of frames): take the shortest lag that is nearly the best.
    j = int(peaks[np.argmax(ac[peaks] >= 0.7 * ac[peaks].max())])
    denom = ac[j - 1] - 2 * ac[j] + ac[j + 1]
    shift = 0.5 * (ac[j - 1] - ac[j + 1]) / denom if denom < 0 else 0.0
    return float(lags[j] + np.clip(shift, -0.5, 0.5))


def detect_beats(volume: np.ndarray, fps: float | None, heart_rate_bpm: float | None = None,
                 r_wave_frames: np.ndarray | None = None) -> tuple[list[Beat], str]:
    """Find ED (volume maxima) and ES (minima) frames.

    The curve is smoothed (Savitzky-Golay over about 1/8 of the shortest plausible
    cycle); maxima and minima must be separated by at least half the shortest
    plausible RR interval, taken from the heart rate if recorded, else from the
    cycle length measured on the curve itself (:func:`cycle_frames`, when the loop
    holds two or more clear cycles), else from the species bounds; with ECG R waves
    aligned to the frames, ED is the frame of each R wave. Each ED is paired with
    the deepest minimum before the next ED.

    Args:
        volume: ``(T,)`` volume curve (any unit), NaN where unmeasured.
        fps: frame rate, or None (then only the curve's shape is used).
        heart_rate_bpm: recorded heart rate.
        r_wave_frames: frame indices of R waves, if known.

    Returns:
        ``(beats, source)`` with source ``"ecg"`` or ``"volume"``.
    """
    v = _fill_nan(np.asarray(volume, dtype=np.float64))
    n = len(v)
    if n < 4 or not np.isfinite(v).all():
        return [], "volume"
    _, (lo_bpm, hi_bpm) = species_bounds(fps, heart_rate_bpm)
    if fps:
        if heart_rate_bpm:
            min_rr = 0.7 * 60.0 / heart_rate_bpm * fps
        else:
            min_rr = 60.0 / hi_bpm * fps
    else:
        min_rr = max(4.0, n / 6.0)
    window = int(max(3, round(min_rr / 8.0)) // 2 * 2 + 1)
    smooth = savgol_filter(v, window, 2) if n > window else v
    span = float(np.nanmax(smooth) - np.nanmin(smooth))
    # A curve that changes by less than 2 % of its mean has no beats to find.
    if span <= 0.02 * abs(float(np.nanmean(smooth))):
        return [], "volume"
    if fps and not heart_rate_bpm:
        # Without a recorded heart rate the species bound allows cycles far shorter
        # than this heart's; a dip inside a beat (e.g. the cavity traced short while
        # the mitral valve is open) would then count as a beat of its own.
        period = cycle_frames(smooth, 60.0 / hi_bpm * fps, 60.0 / lo_bpm * fps)
        if period is not None:
            min_rr = max(min_rr, 0.7 * period)
    distance = max(1, int(0.5 * min_rr))
    prominence = 0.25 * span
    if r_wave_frames is not None and len(r_wave_frames):
        eds = np.unique(np.clip(np.asarray(r_wave_frames, dtype=int), 0, n - 1))
        source = "ecg"
    else:
        eds, _ = find_peaks(np.concatenate([[-np.inf], smooth, [-np.inf]]), distance=distance, prominence=prominence)
        eds = eds - 1
        source = "volume"
    ess, _ = find_peaks(np.concatenate([[-np.inf], -smooth, [-np.inf]]), distance=distance, prominence=prominence)
    ess = ess - 1
    # An extremum on the first or last frame is only trusted when the curve turns there
    # (_turns_at_edge) or is nearly flat there (its mean slope over two frame steps at
    # most 0.3 of the curve's steepest); otherwise the loop merely starts or ends on a
    # slope. Both, because a loop of exactly one cycle starts at ED either way: at 30
    # frames/s the curve turns within a few frames, at 300 frames/s a traced curve can
    # fall almost linearly from a flat start.
    edge_span = max(4, int(round(min_rr / 4)))
    steepest = float(np.abs(np.diff(smooth)).max())
    def _edge_ok(i: int, maximum: bool) -> bool:
        if i not in (0, n - 1):
            return True
        curve = smooth if i == 0 else smooth[::-1]
        flat = abs(curve[2] - curve[0]) / 2 <= 0.3 * steepest
        return flat or _turns_at_edge(curve, edge_span, maximum)
    if source == "volume":
        eds = np.array([i for i in eds if _edge_ok(int(i), True)], dtype=int)
    ess = np.array([i for i in ess if _edge_ok(int(i), False)], dtype=int)
    # Refine on the raw curve with a local parabola: near ED and ES the volume is
    # flat, and a plain argmax would be decided by noise.
    refined = [_refine(v, int(ed), window, np.argmax) for ed in eds]
    beats = []
    for k, ed in enumerate(eds):
        nxt = int(eds[k + 1]) if k + 1 < len(eds) else None
        stop = nxt if nxt is not None else n
        cand = ess[(ess > ed) & (ess < stop)]
        if len(cand) == 0:
            continue
        es = _refine(v, int(cand[np.argmin(v[cand])]), window, np.argmin)
        ed_r, nxt_r = refined[k], (refined[k + 1] if nxt is not None else None)
        if not (ed_r < es and (nxt_r is None or es < nxt_r)):
            # On a jumpy curve refinement can carry ED past ES: that is no beat.
            continue
        beats.append(Beat(ed_r, es, nxt_r))
    return beats, source


def _turns_at_edge(curve: np.ndarray, span: int, maximum: bool) -> bool:
    """Whether ``curve`` has its turning point (a maximum or minimum) at its first frame:
    a parabola through the first ``span`` frames opens the right way and has its vertex
    within a quarter of the span (at least one frame) of frame 0. A loop of exactly one
    cycle starts at ED this way, even at 30 frames/s where frame 1 already lies lower;
    a loop that starts in mid-ejection does not, however noisy its first frames."""
    k = min(span, len(curve))
    if k < 3:
        return False
    x = np.arange(k, dtype=np.float64)
    a, b, _ = np.polyfit(x, curve[:k], 2)
    if (maximum and a >= 0) or (not maximum and a <= 0):
        return False
    return abs(-b / (2 * a)) <= max(1.0, k / 4)


def _refine(v: np.ndarray, i: int, window: int, pick) -> int:
    lo, hi = max(0, i - window // 2), min(len(v), i + window // 2 + 1)
    j = lo + int(pick(v[lo:hi]))
    a, b = max(0, j - 3), min(len(v), j + 4)
    if b - a >= 5:
        x = np.arange(a, b, dtype=np.float64)
        c2, c1, _ = np.polyfit(x - j, v[a:b], 2)
        if (pick is np.argmax and c2 < 0) or (pick is np.argmin and c2 > 0):
            vertex = j - c1 / (2 * c2)
            return int(np.clip(round(vertex), a, b - 1))
    return j
