"""From a loop and its segmentation to measured endpoints: :func:`quantify`."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.signal import savgol_filter

from echoquant.flags import has_flag, make_flag
from echoquant.io.cine import EchoCine
from echoquant.quant.contour import LVContour, extract_contour
from echoquant.quant.cycle import Beat, detect_beats, species_bounds
from echoquant.quant.masks import clean_masks
from echoquant.quant.qc import check_confidence, check_foreshortening, check_jitter, plausible
from echoquant.quant.result import BeatResult, QuantResult
from echoquant.quant.strain import line_strain_pct, offset_line, regional_strain_pct, snap_to_contour, track_line
from echoquant.quant.volumes import frame_volumes
from echoquant.segmentation import LA, LV_CAVITY, LV_MYOCARDIUM, Segmentation

__all__ = ["quantify", "segment_names_for"]

_GENERIC_SEGMENTS = ("basal left", "mid left", "apical left", "apical right", "mid right", "basal right")
_NAMED = {
    "A4C": ("basal inferoseptal", "mid inferoseptal", "apical septal", "apical lateral", "mid anterolateral",
            "basal anterolateral"),
    "A2C": ("basal inferior", "mid inferior", "apical inferior", "apical anterior", "mid anterior", "basal anterior"),
}
# Calibration problems that make mL meaningless.
_CALIBRATION_FLAGS = ("calibration_missing", "calibration_untrusted")


def segment_names_for(view: str | None) -> tuple[str, ...]:
    """Guideline names of the six segments in contour order (screen-left wall first,
    standard display); generic names for other or unknown views."""
    return _NAMED.get(view or "", _GENERIC_SEGMENTS)


_APICAL = ("A4C", "A2C", "A3C")


def _transducer(cine: EchoCine) -> np.ndarray | None:
    """``(x, y)`` of the top of the scan sector, where the transducer sits."""
    rows, cols = np.nonzero(cine.fan_mask)
    if len(rows) == 0:
        return None
    top = rows.min()
    return np.array([float(cols[rows <= top + 2].mean()), float(top)])


def _wall_thickness_px(points: np.ndarray, myo: np.ndarray, max_px: float = 80.0) -> np.ndarray:
    """Myocardial thickness along each contour point's outward normal."""
    steps = np.arange(0.5, max_px, 0.5)
    tangent = np.gradient(points, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    sign = np.sign(np.sum((points - points.mean(axis=0)) * normal, axis=1))
    sign[sign == 0] = 1
    normal *= sign[:, None]
    ray = points[:, None, :] + normal[:, None, :] * steps[None, :, None]
    inside = map_coordinates(myo.astype(np.float32), [ray[..., 1].ravel(), ray[..., 0].ravel()], order=0,
                             mode="constant").reshape(ray.shape[:2]) > 0.5
    # count the first run of myocardium along the ray
    started = np.cumsum(inside, axis=1) > 0
    ended = np.cumsum(started & ~inside, axis=1) > 0
    return (inside & ~ended).sum(axis=1) * 0.5


def _track_beat(frames: np.ndarray, contours: list[LVContour | None], beat: Beat, n_frames: int,
                myo: np.ndarray | None, spacing: tuple[float, float] | None, fps: float | None,
                names: tuple[str, ...]) -> dict:
    stop = beat.next_ed if beat.next_ed is not None else min(n_frames - 1, beat.es + max(1, (beat.es - beat.ed) // 4))
    complete = beat.next_ed is not None
    contour = contours[beat.ed]
    endo = track_line(frames, contour.points, beat.ed, stop, drift_correct=complete)
    raw = line_strain_pct(endo.positions, spacing)
    # Border from the segmentation, material correspondence from tracking.
    snapped = np.stack([
        snap_to_contour(p, contours[beat.ed + k].points) if contours[beat.ed + k] is not None else p
        for k, p in enumerate(endo.positions)
    ])
    strain = line_strain_pct(snapped, spacing)
    systole = strain[: beat.es - beat.ed + 1]
    peak_i = int(np.argmin(systole))
    regional = regional_strain_pct(snapped, spacing)
    out = {
        "gls_pct": float(strain[beat.es - beat.ed]),
        "gls_raw_pct": float(raw[beat.es - beat.ed]),
        "peak_gls_pct": float(systole[peak_i]),
        "time_to_peak_ms": None if not fps else 1000.0 * peak_i / fps,
        "regional": {n: float(regional[k, beat.es - beat.ed]) for k, n in enumerate(names)},
        "curve": strain,
        "regional_curves": regional,
        "fb_failure": endo.fb_failure,
        "midwall": None,
    }
    if myo is not None and myo.any():
        thick = _wall_thickness_px(contour.points, myo)
        if np.median(thick) >= 2:
            mid = track_line(frames, offset_line(contour.points, 0.5 * thick), beat.ed, stop, drift_correct=complete)
            out["midwall"] = float(line_strain_pct(mid.positions, spacing)[beat.es - beat.ed])
    return out


def _median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else None


def _sd(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.std(v, ddof=1)) if len(v) >= 2 else None


def quantify(cine: EchoCine, seg: Segmentation, *, track: bool = True, max_beats: int | None = None) -> QuantResult:
    """Measure volumes, LVEF and strain of one loop.

    Args:
        cine: the loop (frames, timing, calibration, flags).
        seg: its segmentation on the same pixel grid.
        track: run speckle tracking for GLS (contour GLS is always computed).
        max_beats: analyse at most this many beats (all by default).

    Returns:
        A :class:`QuantResult`; values that fail QC are None with a flag saying why.
    """
    if seg.labels.shape != cine.frames.shape:
        raise ValueError(f"segmentation {seg.labels.shape} does not match frames {cine.frames.shape}")
    flags: list[str] = []
    n = cine.n_frames
    names = segment_names_for(cine.meta.view)
    if names is _GENERIC_SEGMENTS:
        flags.append(make_flag("segments_unnamed", f"view {cine.meta.view or 'unknown'}: regional segments are "
                                                   "named by screen side, not by wall"))
    calibrated = cine.spacing_mm is not None and not any(has_flag(cine.flags, c) for c in _CALIBRATION_FLAGS)
    spacing = cine.spacing_mm if calibrated else None
    if not calibrated:
        flags.append(make_flag("volumes_withheld", "no trusted calibration: EDV/ESV are not reported in mL; "
                                                   "LVEF and strain (ratios) are"))
    if cine.has_color_doppler:
        flags.append(make_flag("color_doppler", "colour Doppler in the sector; segmentation may be unreliable"))
    if cine.fps is None:
        flags.append(make_flag("timing_missing", "no frame rate: time to peak and heart rate are not reported"))

    cavity = clean_masks(seg.labels == LV_CAVITY)
    la = seg.labels == LA
    hint = _transducer(cine) if (cine.meta.view or "A4C") in _APICAL else None
    contours = [extract_contour(cavity[t], la[t] if la[t].any() else None, hint) for t in range(n)]
    missing = sum(c is None for c in contours)
    if missing:
        flags.append(make_flag("frames_without_lv", f"{missing} of {n} frames have no usable LV contour"))
    vols = frame_volumes(contours, spacing)
    vkey = "volume_ml" if calibrated else "volume_px3"
    lkey = "long_axis_mm" if calibrated else "long_axis_px"
    ckey = "contour_length_mm" if calibrated else "contour_length_px"
    volume = vols[vkey]

    r_frames = None
    if cine.ecg is not None and cine.ecg.frame_aligned and len(cine.ecg.r_wave_times_s) and cine.frame_times_ms is not None:
        r_frames = np.searchsorted(cine.frame_times_ms, 1000.0 * cine.ecg.r_wave_times_s)
    beats, beat_source = detect_beats(volume, cine.fps, cine.heart_rate_bpm, r_frames)
    beats = [b for b in beats if contours[b.ed] is not None and contours[b.es] is not None]
    if max_beats is not None:
        beats = beats[:max_beats]
    kind, _ = species_bounds(cine.fps, cine.heart_rate_bpm)

    beat_results: list[BeatResult] = []
    strain_curves, strain_frames = [], []
    for b in beats:
        ef = 100.0 * (volume[b.ed] - volume[b.es]) / volume[b.ed]
        cl = vols[ckey]
        gls_contour = 100.0 * (cl[b.es] - cl[b.ed]) / cl[b.ed]
        tracked = None
        if track:
            myo = seg.labels[b.ed] == LV_MYOCARDIUM
            tracked = _track_beat(cine.frames, contours, b, n, myo, spacing, cine.fps, names)
            strain_curves.append(tracked["curve"])
            strain_frames.append(np.arange(b.ed, b.ed + len(tracked["curve"])))
        beat_results.append(BeatResult(
            ed_frame=b.ed, es_frame=b.es, next_ed_frame=b.next_ed, lvef_pct=float(ef),
            edv_ml=float(volume[b.ed]) if calibrated else None, esv_ml=float(volume[b.es]) if calibrated else None,
            gls_pct=None if tracked is None else tracked["gls_pct"], gls_contour_pct=float(gls_contour),
            gls_midwall_pct=None if tracked is None else tracked["midwall"],
            time_to_peak_ms=None if tracked is None else tracked["time_to_peak_ms"],
            regional_strain_pct={} if tracked is None else tracked["regional"],
            gls_tracking_only_pct=None if tracked is None else tracked["gls_raw_pct"],
            fb_failure=None if tracked is None else tracked["fb_failure"]))

    if not beat_results:
        flags.append(make_flag("too_few_beats", "no end-diastole followed by end-systole was found; "
                                                "LVEF and GLS are not reported (record at least one full beat)"))
    eds, ess = [b.ed_frame for b in beat_results], [b.es_frame for b in beat_results]
    flags += check_foreshortening(vols[lkey], eds, ess)
    flags += check_confidence(seg.confidence(), eds + ess)
    if beat_results:
        finite = np.isfinite(volume)
        smooth = volume.copy()
        if finite.sum() >= 7:
            smooth[finite] = savgol_filter(volume[finite], 7 if finite.sum() >= 7 else 3, 2)
        stroke = float(np.nanmedian([volume[b.ed_frame] - volume[b.es_frame] for b in beat_results]))
        flags += check_jitter(volume, smooth, stroke)
    fb = [b.fb_failure for b in beat_results if b.fb_failure is not None]
    tracking_ok = not fb or float(np.mean(fb)) <= 0.3
    if not tracking_ok:
        flags.append(make_flag("tracking_unreliable", f"{100 * np.mean(fb):.0f}% of tracked steps failed the "
                                                      "forward-backward check; tracking GLS withheld"))

    lvef, f1 = plausible("lvef_pct", _median([b.lvef_pct for b in beat_results]))
    gls, f2 = plausible("gls_pct", _median([b.gls_pct for b in beat_results]) if tracking_ok else None)
    gls_c, f3 = plausible("gls_pct", _median([b.gls_contour_pct for b in beat_results]))
    edv_key = f"edv_ml_{kind}"
    edv, f4 = plausible("edv_ml", _median([b.edv_ml for b in beat_results]), edv_key)
    flags += f1 + f2 + f3 + f4
    esv = _median([b.esv_ml for b in beat_results]) if edv is not None else None
    hr = None
    complete = [b for b in beat_results if b.next_ed_frame is not None]
    if complete and cine.fps:
        hr = 60.0 * cine.fps / float(np.median([b.next_ed_frame - b.ed_frame for b in complete]))
    regional = {}
    if beat_results and beat_results[0].regional_strain_pct and tracking_ok:
        regional = {k: _median([b.regional_strain_pct.get(k) for b in beat_results]) for k in names}
    summary = {
        "lvef_pct": lvef, "edv_ml": edv, "esv_ml": esv, "gls_pct": gls, "gls_contour_pct": gls_c,
        "gls_midwall_pct": _median([b.gls_midwall_pct for b in beat_results]) if tracking_ok else None,
        "gls_tracking_only_pct": _median([b.gls_tracking_only_pct for b in beat_results]) if tracking_ok else None,
        "lvef_sd_pct": _sd([b.lvef_pct for b in beat_results]),
        "gls_sd_pct": _sd([b.gls_pct for b in beat_results]) if tracking_ok else None,
        "n_beats": len(beat_results), "n_complete_beats": len(complete), "beat_source": beat_source,
        "heart_rate_bpm_measured": hr, "regional_strain_pct": regional,
        "time_to_peak_ms": _median([b.time_to_peak_ms for b in beat_results]),
    }
    curves = {vkey: volume, lkey: vols[lkey], ckey: vols[ckey]}
    if strain_curves:
        curves["strain_pct"] = strain_curves
        curves["strain_frames"] = strain_frames
    apex = np.full((n, 2), np.nan)
    hinges = np.full((n, 2, 2), np.nan)
    for t, c in enumerate(contours):
        if c is not None:
            apex[t], hinges[t] = c.apex, c.hinges
    if contours and all(c is None or c.landmark_source == "shape" for c in contours):
        flags.append(make_flag("landmarks_from_shape", "no LA label: mitral hinge points found from the cavity "
                                                       "shape alone"))
    return QuantResult(summary, beat_results, curves, {"apex_px": apex, "hinges_px": hinges}, flags, names,
                       [None if c is None else c.points for c in contours])
