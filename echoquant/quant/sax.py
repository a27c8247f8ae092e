"""Short-axis (SAX) loops: LV cavity area per frame, and by beat the end-diastolic and
end-systolic areas and the fractional area change.

A short-axis section has no apex and no mitral hinges: LVEF, volumes by disks and
longitudinal strain do not apply to it and stay empty (never computed from the wrong
geometry). The cavity area is the segmented LV cavity's pixel count times the pixel
area; papillary muscles inside the border belong to the cavity, as the ASE traces it
(and as the generator's truth is drawn). ED is the largest area of each beat (or the
R wave of an aligned ECG), ES the smallest before the next ED, exactly as for volumes
(:func:`~echoquant.quant.cycle.detect_beats`).

``FAC = 100 (EDA - ESA) / EDA`` per beat; the summary is the median over beats with a
95 % interval made like LVEF's (:mod:`echoquant.quant.intervals`): beat-to-beat spread,
how much FAC moves with the border drawn at probability 0.25/0.75, and a floor.

**End-systolic area from the segmentation or the tracked border.** The ED cavity border
is speckle-tracked through the beat (:mod:`echoquant.quant.saxmotion`, as VevoStrain
follows an ED trace). Where that ring shrinks further (smallest over largest area in the
beat) than the segmented cavity does, the beat's ESA is EDA times the ring's area ratio
and FAC follows from it; LVIDs and FS likewise, separately. Both estimates can only
under-read a contraction (:func:`_areas_from_tracking` says why), so the larger FAC is
the nearer. ``fac_source`` says which (``segmentation``, ``tracking`` or ``mixed`` over
the beats) and ``fac_seg_pct`` keeps the segmentation-only FAC. Tracking that fails its
forward-backward check (> 30 % of steps) is not used.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from echoquant.flags import make_flag
from echoquant.quant.cycle import Beat, detect_beats
from echoquant.quant.intervals import INTERVAL_MODELS, finite_median, finite_sd, interval
from echoquant.quant.qc import check_confidence, check_interval_width, plausible
from echoquant.quant.result import BeatResult, QuantResult
from echoquant.quant.view import CavityBorder
from echoquant.quant.saxmotion import SaxBeatMotion, sax_beat_motion, sax_wall_motion
from echoquant.quant.strain import MAX_FB_FAILURE
from echoquant.segment.result import AREA_LEVELS, LV_MYOCARDIUM, Segmentation

__all__ = ["SAX_SEGMENT_NAMES", "SAX_SUMMARY_KEYS", "cavity_areas", "fac_spread", "quantify_sax"]

# Six mid-ventricular segments (AHA), clockwise on screen from the top with the RV on
# the screen-left, as rodent short axes are displayed.
SAX_SEGMENT_NAMES = ("anterior", "anterolateral", "inferolateral", "inferior", "inferoseptal", "anteroseptal")

SAX_SUMMARY_KEYS = ("eda_mm2", "esa_mm2", "fac_pct", "fac_sd_pct", "fac_ci_low", "fac_ci_high")
_MID = AREA_LEVELS.index(0.5)


def cavity_areas(cavity: np.ndarray, spacing_mm: tuple[float, float] | None) -> np.ndarray:
    """``(T,)`` cavity area per frame: mm² with a calibration, else pixels (NaN where empty)."""
    px = cavity.reshape(len(cavity), -1).sum(axis=1).astype(np.float64)
    area = px * (spacing_mm[0] * spacing_mm[1] if spacing_mm is not None else 1.0)
    area[px == 0] = np.nan
    return area


def fac_spread(ed_levels: np.ndarray | None, es_levels: np.ndarray | None) -> float | None:
    """FAC points by which the value moves when both borders are drawn at another
    probability level (network-grid pixel counts at :data:`AREA_LEVELS`)."""
    if ed_levels is None or es_levels is None or np.any(np.asarray(ed_levels) <= 0):
        return None
    fac = 100.0 * (1.0 - np.asarray(es_levels, dtype=np.float64) / np.asarray(ed_levels, dtype=np.float64))
    return float(np.max(np.abs(fac - fac[_MID])))


def _beat(b: Beat, area: np.ndarray, levels: np.ndarray | None, calibrated: bool) -> BeatResult:
    ed, es = float(area[b.ed]), float(area[b.es])
    return BeatResult(ed_frame=b.ed, es_frame=b.es, next_ed_frame=b.next_ed, lvef_pct=None, edv_ml=None, esv_ml=None,
                      gls_pct=None, gls_contour_pct=None, gls_midwall_pct=None, time_to_peak_ms=None,
                      eda_mm2=ed if calibrated else None, esa_mm2=es if calibrated else None,
                      fac_pct=100.0 * (ed - es) / ed,
                      fac_seg_spread_pct=None if levels is None else fac_spread(levels[b.ed], levels[b.es]))


def _motions(frames: np.ndarray, cavity: np.ndarray, seg: Segmentation, beats: list[Beat],
             results: list[BeatResult], spacing: tuple[float, float] | None, names: tuple[str, ...],
             track: bool) -> list[SaxBeatMotion]:
    """Each beat's dimensions and mechanics, written into its BeatResult too."""
    myo = seg.labels == LV_MYOCARDIUM
    out = []
    mm = spacing is not None
    for b, r in zip(beats, results):
        m = sax_beat_motion(frames, cavity, myo, b, spacing, track)
        if m is None:
            continue
        out.append(m)
        r.lvidd_mm, r.lvids_mm = (m.lvidd, m.lvids) if mm else (None, None)
        r.fs_pct, r.gcs_pct, r.grs_pct = m.fs_pct, m.gcs_pct, m.grs_pct
        r.fb_failure = m.fb_failure
        r.segment_circumferential_strain_pct = dict(zip(names, m.segment_strain_pct))
        r.segment_thickening_pct = dict(zip(names, m.segment_thickening_pct))
        r.epi_eda_mm2 = m.epi_area_ed if mm else None
    return out


def _areas_from_tracking(results: list[BeatResult], motions: list[SaxBeatMotion], calibrated: bool) -> str:
    """Where the tracked ED border shows the wall moving further in than the segmented
    ES border does, take each beat's ES area (and so FAC), and separately its LVIDs
    and FS, from the tracked border; in place. Returns where the beats' FAC came from
    (``tracking``, ``segmentation`` or ``mixed``).

    Why the larger of the two: both estimates fail in one direction only. Speckle
    tracking under-follows a strongly contracting wall (speckle decorrelates; on
    generated mouse and rat short axes, tracked from the *true* ED border, FAC read
    1-11 points low in 8 of 8 hearts and under every window size tried), while the
    network draws the end-systolic cavity of a small rodent heart too large
    (traced/true ES area 1.06-1.10; FAC 5.4 points low on 10 held-out mouse loops).
    With exact masks the segmented areas win and stay exact; with the network's, the
    tracked border is taken where the network lagged (docs/preclinical_eval.md).
    The segmentation-only FAC stays in ``fac_seg_pct``. ES for the tracked border is
    its smallest area in the beat (:func:`~echoquant.quant.saxmotion.sax_beat_motion`).
    """
    by_beat = {(m.beat.ed, m.beat.es): m for m in motions if m.beat is not None}
    used = []
    for r in results:
        r.fac_seg_pct = r.fac_pct
        m = by_beat.get((r.ed_frame, r.es_frame))
        ratio = None if m is None else m.tracked_es_area_ratio
        tracked = None if ratio is None or not np.isfinite(ratio) or ratio <= 0 else 100.0 * (1.0 - ratio)
        used.append(tracked is not None and r.fac_pct is not None and tracked > r.fac_pct)
        if used[-1]:
            r.fac_pct = tracked
            if calibrated and r.eda_mm2 is not None:
                r.esa_mm2 = r.eda_mm2 * ratio
        if m is not None:
            r.take_larger_fs(m.lvidd, m.tracked_lvids)
    if not any(used):
        return "segmentation"
    return "tracking" if all(used) else "mixed"


def _tracking_ok(motions: list[SaxBeatMotion]) -> bool:
    """Tracked strain may be reported: at most 30 % of tracked steps failed the
    forward-backward check (the long axis's rule, :mod:`echoquant.quant.pipeline`)."""
    fb = [m.fb_failure for m in motions if m.fb_failure is not None]
    return not fb or float(np.mean(fb)) <= MAX_FB_FAILURE


def _motion_summary(results: list[BeatResult], motions: list[SaxBeatMotion], names: tuple[str, ...],
                    calibrated: bool) -> dict:
    """Medians over beats of the SAX dimensions and mechanics, and the wall motion."""
    def med(key: str) -> float | None:
        return finite_median([getattr(r, key) for r in results])

    tracking_ok = _tracking_ok(motions)
    if not tracking_ok:
        # Strain from failed tracking must not vote in the wall motion either.
        motions = [replace(m, segment_strain_pct=[None] * len(names)) for m in motions]
    motion = sax_wall_motion(motions, names, calibrated).to_dict()
    return {
        "lvidd_mm": med("lvidd_mm"), "lvids_mm": med("lvids_mm"), "fs_pct": med("fs_pct"),
        "gcs_pct": med("gcs_pct") if tracking_ok else None, "grs_pct": med("grs_pct"),
        "epi_eda_mm2": med("epi_eda_mm2"),
        "regional_strain_pct": {n: finite_median([r.segment_circumferential_strain_pct.get(n) for r in results])
                                for n in names} if tracking_ok else {},
        "segment_thickening_pct": {n: finite_median([r.segment_thickening_pct.get(n) for r in results])
                                   for n in names},
        "wall_motion": motion.pop("segments"), **motion,
    }


def quantify_sax(cine, seg: Segmentation, cavity: np.ndarray, *, spacing: tuple[float, float] | None,
                 r_wave_frames: np.ndarray | None, flags: list[str], names: tuple[str, ...], view: dict,
                 gate_features: dict, max_beats: int | None = None, beats: list[Beat] | None = None,
                 track: bool = True) -> QuantResult:
    """Measure a short-axis loop (see the module docstring).

    Args:
        cine: the loop.
        seg: its segmentation.
        cavity: ``(T, H, W)`` cleaned LV cavity masks.
        spacing: trusted ``(row, col)`` mm per pixel, or None (areas then in pixels,
            not reported; FAC is a ratio and is).
        r_wave_frames: frames of aligned ECG R waves, if any.
        flags: flags so far (input, view).
        names: segment names (for the result's record).
        view: ``view``, ``view_source``, ``view_probability``.
        gate_features: the LV-view gate's features.
        max_beats: measure at most this many beats.
        beats: a reader's beats (ED/ES frames) instead of those found on the area curve.
        track: track the border for circumferential strain (:mod:`echoquant.quant.saxmotion`).
    """
    calibrated = spacing is not None
    area = cavity_areas(cavity, spacing)
    if beats is not None:
        source = "reader"
    else:
        beats, source = detect_beats(area, cine.fps, cine.heart_rate_bpm, r_wave_frames)
    beats = [b for b in beats if np.isfinite(area[b.ed]) and np.isfinite(area[b.es])][:max_beats]
    results = [_beat(b, area, seg.lv_area_levels, calibrated) for b in beats]
    motions = _motions(cine.frames, cavity, seg, beats, results, spacing, names, track)
    qc = [] if results else [make_flag("too_few_beats", "no end-diastole followed by end-systole was found; FAC is "
                                                         "not reported (record at least one full beat)")]
    qc += check_confidence(seg.confidence(), [b.ed for b in beats] + [b.es for b in beats])
    if not _tracking_ok(motions):
        fb = np.mean([m.fb_failure for m in motions if m.fb_failure is not None])
        qc.append(make_flag("tracking_unreliable", f"{100 * fb:.0f}% of tracked steps failed the forward-backward "
                                                   "check; circumferential strain withheld, FAC from the segmented "
                                                   "areas"))
        fac_source = "segmentation"
    else:
        fac_source = _areas_from_tracking(results, motions, calibrated)
    fac, f1 = plausible("fac_pct", finite_median([r.fac_pct for r in results]))
    complete = [b for b in beats if b.next_ed is not None]
    hr = 60.0 * cine.fps / float(np.median([b.next_ed - b.ed for b in complete])) if complete and cine.fps else None
    lo, hi = interval(fac, [r.fac_pct for r in results], [r.fac_seg_spread_pct for r in results],
                      INTERVAL_MODELS["fac_pct"], (0.0, 100.0))
    summary = {k: None for k in ("lvef_pct", "edv_ml", "esv_ml", "gls_pct", "gls_contour_pct", "gls_midwall_pct",
                                 "gls_tracking_only_pct", "lvef_sd_pct", "gls_sd_pct", "time_to_peak_ms",
                                 *(f"{v}_ci_{s}" for v in ("lvef", "gls", "edv", "esv") for s in ("low", "high")))}
    summary.update({
        "eda_mm2": finite_median([r.eda_mm2 for r in results]), "esa_mm2": finite_median([r.esa_mm2 for r in results]),
        "fac_pct": fac, "fac_sd_pct": finite_sd([r.fac_pct for r in results]), "fac_ci_low": lo, "fac_ci_high": hi,
        "fac_source": fac_source if results else None,
        "fac_seg_pct": finite_median([r.fac_seg_pct if r.fac_seg_pct is not None else r.fac_pct for r in results]),
        "n_beats": len(results), "n_complete_beats": len(complete), "beat_source": source,
        "heart_rate_bpm_measured": hr, "regional_strain_pct": {}, **view, "lv_view": gate_features,
    })
    summary.update(_motion_summary(results, motions, names, calibrated))
    qc += check_interval_width(summary)
    unit = "mm2" if calibrated else "px2"
    borders = [CavityBorder.of(c) for c in cavity]
    return QuantResult(summary, results, {f"area_{unit}": area}, {}, flags + qc + f1, names,
                       [None if b is None else b.points for b in borders])
