"""From a loop and its segmentation to measured endpoints: :func:`quantify`."""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

from echoquant.flags import has_flag, make_flag
from echoquant.geometry import method_of_disks
from echoquant.io.cine import EchoCine
from echoquant.io.species import loop_species
from echoquant.quant.contour import LVContour, closed_border, extract_contours
from echoquant.quant.cycle import Beat, detect_beats
from echoquant.quant.edits import ReaderEdits
from echoquant.quant.intervals import INTERVAL_MODELS, interval, lvef_spread, volume_spread
from echoquant.quant.intervals import finite_median as _median
from echoquant.quant.intervals import finite_sd as _sd
from echoquant.quant.masks import clean_masks, imaged_myocardium
from echoquant.quant.plax import plax_dimensions
from echoquant.quant.qc import check_confidence, check_foreshortening, check_interval_width, check_jitter, plausible
from echoquant.quant.result import BeatResult, QuantResult
from echoquant.quant.strain import (MAX_FB_FAILURE, line_strain_pct, offset_line, regional_strain_pct, snap_to_contour,
                                    track_line)
from echoquant.quant.sax import SAX_SEGMENT_NAMES, quantify_sax
from echoquant.quant.view import CavityBorder, LVViewCheck, check_lv_view, lv_view_features, recognise_view
from echoquant.quant.wallmotion import (NOT_ASSESSED, WallMotion, beat_wall_motion, sector_edge_distance,
                                        summarise_wall_motion, wall_thickness_px)
from echoquant.quant.volumes import frame_volumes, to_mm
from echoquant.segment.result import LA, LV_CAVITY, LV_MYOCARDIUM, Segmentation

__all__ = ["quantify", "segment_names_for", "transducer_point"]

_GENERIC_SEGMENTS = ("basal left", "mid left", "apical left", "apical right", "mid right", "basal right")
_NAMED = {
    "A4C": ("basal inferoseptal", "mid inferoseptal", "apical septal", "apical lateral", "mid anterolateral",
            "basal anterolateral"),
    "A2C": ("basal inferior", "mid inferior", "apical inferior", "apical anterior", "mid anterior", "basal anterior"),
    # Parasternal long axis turned apex-up: the inferolateral wall is on the screen's left.
    "PLAX": ("basal inferolateral", "mid inferolateral", "apical inferolateral", "apical anteroseptal",
             "mid anteroseptal", "basal anteroseptal"),
    "SAX": SAX_SEGMENT_NAMES,
}
# Calibration problems that make mL meaningless.
_CALIBRATION_FLAGS = ("calibration_missing", "calibration_untrusted")


def segment_names_for(view: str | None) -> tuple[str, ...]:
    """Guideline names of the six segments in contour order (screen-left wall first,
    standard display); generic names for other or unknown views."""
    return _NAMED.get(view or "", _GENERIC_SEGMENTS)


_APICAL = ("A4C", "A2C", "A3C")


def transducer_point(cine: EchoCine) -> np.ndarray | None:
    """``(x, y)`` of the top of the scan sector, where the transducer sits."""
    rows, cols = np.nonzero(cine.fan_mask)
    if len(rows) == 0:
        return None
    top = rows.min()
    return np.array([float(cols[rows <= top + 2].mean()), float(top)])


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
        # Wall motion: where the tracked material points went (excursion), and the
        # segmented border they lie on (thickness).
        "es_points": endo.positions[beat.es - beat.ed],
        "es_border_points": snapped[beat.es - beat.ed],
        "regional_es": [float(regional[k, beat.es - beat.ed]) for k in range(len(names))],
        "positions": endo.positions,
    }
    if myo is not None and myo.any():
        thick = wall_thickness_px(contour.points, myo)
        if np.median(thick) >= 2:
            mid = track_line(frames, offset_line(contour.points, 0.5 * thick), beat.ed, stop, drift_correct=complete)
            out["midwall"] = float(line_strain_pct(mid.positions, spacing)[beat.es - beat.ed])
    return out


def _tracked_volume_extremes(positions: np.ndarray, spacing: tuple[float, float] | None
                             ) -> tuple[float, int] | None:
    """The tracked ED contour's smallest over largest method-of-disks volume in the beat,
    and the frame (from ED) of the smallest."""
    scale = spacing if spacing is not None else (1.0, 1.0)
    vols = []
    for p in positions:
        pts = to_mm(p, scale)
        vols.append(method_of_disks(pts, apex=pts[len(pts) // 2]).volume_ml)
    vols = np.asarray(vols, dtype=np.float64)
    if not len(vols) or not np.all(np.isfinite(vols)) or vols.max() <= 0:
        return None
    return float(vols.min() / vols.max()), int(np.argmin(vols))


def _plax_tracked(r: BeatResult, tracked: dict | None, spacing: tuple[float, float] | None) -> bool:
    """A PLAX beat's ESV and LVEF, and separately its LVIDs and FS, from its tracked ED
    contour where that contour contracts further in the beat than the segmented one;
    in place (after :func:`_plax_beat`). Returns whether LVEF came from tracking.

    The rule of the short axis (:func:`echoquant.quant.sax._areas_from_tracking`): the
    network draws a small rodent cavity outward at ES and the tracker under-follows a
    strong contraction, so the larger LVEF is the nearer, and with exact masks the
    segmented volumes are exact and kept. On 10 held-out generated mouse PLAX loops:
    LVEF MAE 5.4 (segmented) against 4.0 (the larger of the two). Parasternal long axes
    only: on real apical human loops the segmented ESV is unbiased (CAMUS valid).
    """
    if not tracked or r.lvef_pct is None or tracked["fb_failure"] > MAX_FB_FAILURE:
        return False
    systole = _tracked_volume_extremes(tracked["positions"], spacing)
    if systole is None:
        return False
    ratio, k = systole
    scale = spacing if spacing is not None else (1.0, 1.0)
    d, s = (plax_dimensions(to_mm(tracked["positions"][i], scale)) for i in (0, k))
    if d is not None and s is not None:
        r.take_larger_fs(d.lvid, s.lvid)
    if 100.0 * (1.0 - ratio) <= r.lvef_pct:
        return False
    r.lvef_pct = 100.0 * (1.0 - ratio)
    if r.edv_ml is not None:
        r.esv_ml = r.edv_ml * ratio
    return True


def _beat_wall_motion(b: Beat, contours: list[LVContour | None], tracked: dict | None, labels: np.ndarray,
                      fan_mask: np.ndarray, edge: np.ndarray, spacing: tuple[float, float] | None,
                      names: tuple[str, ...]) -> WallMotion:
    """Wall motion of one beat: the tracked material points and tracked regional strain
    when tracking was run and passed QC, else the ED and ES contours (matched by arc
    length) and their segments' length change."""
    if tracked:
        es_pts, border, strain = tracked["es_points"], tracked["es_border_points"], tracked["regional_es"]
    else:
        es_pts, border, strain = contours[b.es].points, None, None
    return beat_wall_motion(contours[b.ed].points, es_pts, imaged_myocardium(labels[b.ed], fan_mask),
                            imaged_myocardium(labels[b.es], fan_mask), edge, names, spacing_mm=spacing,
                            strain_pct=strain, es_border_points=border)


def _input_flags(cine: EchoCine, names: tuple[str, ...], calibrated: bool, view: str | None) -> list[str]:
    """Flags that come from the loop itself, before anything is measured."""
    flags = []
    if names is _GENERIC_SEGMENTS:
        flags.append(make_flag("segments_unnamed", f"view {view or 'unknown'}: regional segments are "
                                                   "named by screen side, not by wall"))
    if not calibrated:
        flags.append(make_flag("volumes_withheld", "no trusted calibration: EDV/ESV are not reported in mL; "
                                                   "LVEF and strain (ratios) are"))
    if cine.has_color_doppler:
        flags.append(make_flag("color_doppler", "colour Doppler in the sector; segmentation may be unreliable"))
    if cine.fps is None:
        flags.append(make_flag("timing_missing", "no frame rate: time to peak and heart rate are not reported"))
    return flags


def _r_wave_frames(cine: EchoCine) -> np.ndarray | None:
    """Frames of R waves, only from an ECG whose time axis is the frames'."""
    ecg = cine.ecg
    if ecg is None or not ecg.frame_aligned or not len(ecg.r_wave_times_s) or cine.frame_times_ms is None:
        return None
    return np.searchsorted(cine.frame_times_ms, 1000.0 * ecg.r_wave_times_s)


def _measure_beat(b: Beat, volume: np.ndarray, length: np.ndarray, tracked: dict | None,
                  calibrated: bool, areas: np.ndarray | None) -> BeatResult:
    """Per-beat values from the curves and, if run, the tracking of that beat."""
    t = tracked or {}
    ed_a, es_a = (None, None) if areas is None else (areas[b.ed], areas[b.es])
    gls, gls_c = t.get("gls_pct"), float(100.0 * (length[b.es] - length[b.ed]) / length[b.ed])
    return BeatResult(
        ed_frame=b.ed, es_frame=b.es, next_ed_frame=b.next_ed,
        lvef_pct=float(100.0 * (volume[b.ed] - volume[b.es]) / volume[b.ed]),
        edv_ml=float(volume[b.ed]) if calibrated else None, esv_ml=float(volume[b.es]) if calibrated else None,
        gls_pct=gls, gls_contour_pct=gls_c,
        gls_midwall_pct=t.get("midwall"), time_to_peak_ms=t.get("time_to_peak_ms"),
        regional_strain_pct=t.get("regional", {}), gls_tracking_only_pct=t.get("gls_raw_pct"),
        fb_failure=t.get("fb_failure"),
        lvef_seg_spread_pct=lvef_spread(float(volume[b.ed]), float(volume[b.es]), ed_a, es_a),
        edv_seg_spread_frac=volume_spread(float(volume[b.ed]), ed_a),
        esv_seg_spread_frac=volume_spread(float(volume[b.es]), es_a),
        gls_method_spread_pct=None if gls is None else abs(gls - gls_c))


def _plax_beat(r: BeatResult, b: Beat, contours: list[LVContour | None], cavity: np.ndarray, labels: np.ndarray,
               spacing: tuple[float, float] | None) -> None:
    """A PLAX beat's LVID, walls, FS and long-axis length (:mod:`echoquant.quant.plax`),
    written into its BeatResult (mm only when calibrated; FS always)."""
    scale = spacing if spacing is not None else (1.0, 1.0)
    dims = {}
    for t in (b.ed, b.es):
        outer = closed_border(cavity[t] | (labels[t] == LV_MYOCARDIUM))
        dims[t] = plax_dimensions(to_mm(contours[t].points, scale), None if outer is None else to_mm(outer, scale))
    d, s = dims[b.ed], dims[b.es]
    if d is None or s is None:
        return
    r.fs_pct = 100.0 * (d.lvid - s.lvid) / d.lvid if d.lvid > 0 else None
    if spacing is not None:
        r.lvidd_mm, r.lvids_mm, r.lv_length_mm, r.lv_length_es_mm = d.lvid, s.lvid, d.length, s.length
        r.ivsd_mm, r.ivss_mm, r.lvpwd_mm, r.lvpws_mm = d.ivs, s.ivs, d.lvpw, s.lvpw


def _qc_flags(beats: list[BeatResult], volume: np.ndarray, long_axis: np.ndarray, seg: Segmentation) -> tuple[list[str], bool]:
    """QC of the measured beats; returns the flags and whether tracking may be reported."""
    flags = []
    if not beats:
        flags.append(make_flag("too_few_beats", "no end-diastole followed by end-systole was found; "
                                                "LVEF and GLS are not reported (record at least one full beat)"))
    eds, ess = [b.ed_frame for b in beats], [b.es_frame for b in beats]
    flags += check_foreshortening(long_axis, eds, ess)
    flags += check_confidence(seg.confidence(), eds + ess)
    finite = np.isfinite(volume)
    if beats and finite.sum() >= 7:
        smooth = volume.copy()
        smooth[finite] = savgol_filter(volume[finite], 7, 2)
        stroke = float(np.nanmedian([volume[b.ed_frame] - volume[b.es_frame] for b in beats]))
        flags += check_jitter(volume, smooth, stroke)
    fb = [b.fb_failure for b in beats if b.fb_failure is not None]
    tracking_ok = not fb or float(np.mean(fb)) <= MAX_FB_FAILURE
    if not tracking_ok:
        flags.append(make_flag("tracking_unreliable", f"{100 * np.mean(fb):.0f}% of tracked steps failed the "
                                                      "forward-backward check; tracking GLS withheld"))
    return flags, tracking_ok


def _summarise(beats: list[BeatResult], tracking_ok: bool, kind: str, fps: float | None, names: tuple[str, ...],
               beat_source: str) -> tuple[dict, list[str]]:
    """Summary values (medians over beats), withholding implausible ones."""
    def med(key: str, ok: bool = True) -> float | None:
        return _median([getattr(b, key) for b in beats]) if ok else None

    lvef, f1 = plausible("lvef_pct", med("lvef_pct"))
    gls, f2 = plausible("gls_pct", med("gls_pct", tracking_ok))
    gls_c, f3 = plausible("gls_pct", med("gls_contour_pct"))
    edv, f4 = plausible("edv_ml", med("edv_ml"), f"edv_ml_{kind}")
    complete = [b for b in beats if b.next_ed_frame is not None]
    hr = None
    if complete and fps:
        hr = 60.0 * fps / float(np.median([b.next_ed_frame - b.ed_frame for b in complete]))
    regional = {}
    if beats and beats[0].regional_strain_pct and tracking_ok:
        regional = {k: _median([b.regional_strain_pct.get(k) for b in beats]) for k in names}
    summary = {
        "lvef_pct": lvef, "edv_ml": edv, "esv_ml": med("esv_ml") if edv is not None else None, "gls_pct": gls,
        "gls_contour_pct": gls_c, "gls_midwall_pct": med("gls_midwall_pct", tracking_ok),
        "gls_tracking_only_pct": med("gls_tracking_only_pct", tracking_ok),
        "lvef_sd_pct": _sd([b.lvef_pct for b in beats]),
        "gls_sd_pct": _sd([b.gls_pct for b in beats]) if tracking_ok else None,
        "n_beats": len(beats), "n_complete_beats": len(complete), "beat_source": beat_source,
        "heart_rate_bpm_measured": hr, "regional_strain_pct": regional,
        "time_to_peak_ms": med("time_to_peak_ms", tracking_ok),
        **{k: med(k) for k in _DIMENSIONS},
    }
    summary.update(_intervals(summary, beats, tracking_ok))
    return summary, f1 + f2 + f3 + f4


def _intervals(summary: dict, beats: list[BeatResult], tracking_ok: bool) -> dict[str, float | None]:
    """95 % intervals of the reported LVEF, GLS, EDV and ESV (None where the value is)."""
    def col(key: str) -> list[float | None]:
        return [getattr(b, key) for b in beats]

    gls_beats = col("gls_pct") if tracking_ok else []
    pairs = {
        "lvef": interval(summary["lvef_pct"], col("lvef_pct"), col("lvef_seg_spread_pct"),
                         INTERVAL_MODELS["lvef_pct"], (0.0, 100.0)),
        "gls": interval(summary["gls_pct"], gls_beats, col("gls_method_spread_pct"), INTERVAL_MODELS["gls_pct"]),
        "edv": interval(summary["edv_ml"], col("edv_ml"), col("edv_seg_spread_frac"), INTERVAL_MODELS["edv_ml"]),
        "esv": interval(summary["esv_ml"], col("esv_ml"), col("esv_seg_spread_frac"), INTERVAL_MODELS["esv_ml"]),
    }
    return {f"{name}_ci_{side}": v for name, (lo, hi) in pairs.items() for side, v in (("low", lo), ("high", hi))}


def _untraced_reader_frames(beats: list[Beat], contours: list[LVContour | None]) -> list[str]:
    """A flag for reader-set ED/ES frames without an LV contour (those beats are dropped)."""
    bad = sorted({t for b in beats for t in (b.ed, b.es) if contours[t] is None})
    if not bad:
        return []
    return [make_flag("reader_frame_untraced", f"frames {bad} set as ED/ES by the reader have no LV contour; "
                                               "their beats are not measured (draw the border on them)")]


def _landmarks(contours: list[LVContour | None]) -> tuple[dict[str, np.ndarray], list[str]]:
    n = len(contours)
    apex, hinges = np.full((n, 2), np.nan), np.full((n, 2, 2), np.nan)
    for t, c in enumerate(contours):
        if c is not None:
            apex[t], hinges[t] = c.apex, c.hinges
    flags = []
    if contours and all(c is None or c.landmark_source == "shape" for c in contours):
        flags.append(make_flag("landmarks_from_shape", "no LA label: mitral hinge points found from the cavity "
                                                       "shape alone"))
    return {"apex_px": apex, "hinges_px": hinges}, flags


# PLAX dimensions (echoquant.quant.plax), medians over beats; empty for other views.
_DIMENSIONS = ("lvidd_mm", "lvids_mm", "fs_pct", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm", "lv_length_mm",
               "lv_length_es_mm")

_SUMMARY_VALUES = ("lvef_pct", "edv_ml", "esv_ml", "gls_pct", "gls_contour_pct", "gls_midwall_pct",
                   "gls_tracking_only_pct", "lvef_sd_pct", "gls_sd_pct", "heart_rate_bpm_measured", "time_to_peak_ms",
                   *(f"{v}_ci_{s}" for v in ("lvef", "gls", "edv", "esv") for s in ("low", "high")), *_DIMENSIONS)


def _gate(cine: EchoCine, seg: Segmentation, cavity: np.ndarray, contours: list, transducer: np.ndarray | None,
          species: str, view: str | None) -> LVViewCheck:
    """The LV-view gate (:mod:`echoquant.quant.view`) on the largest-cavity frame."""
    t = int(np.argmax(cavity.reshape(len(cavity), -1).sum(axis=1)))
    myocardium = imaged_myocardium(seg.labels[t], cine.fan_mask)
    features = lv_view_features(cavity, myocardium, contours[t], cine.fan_mask, seg.confidence(), transducer,
                                cine.color_doppler_fraction)
    return check_lv_view(features, species, cine.meta.view, view)


def _beam_direction(fan_mask: np.ndarray, cavity: np.ndarray, transducer: np.ndarray | None) -> np.ndarray:
    """Unit ``(x, y)`` direction of the beam at the LV: straight down in a rectangular
    (linear-array) image, from the transducer to the cavity in a sector."""
    rows, cols = np.nonzero(fan_mask)
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) if len(rows) else 0
    if transducer is None or not box or len(rows) / box > 0.95:
        return np.array([0.0, 1.0])
    r, c = np.nonzero(cavity)
    d = np.array([c.mean(), r.mean()]) - transducer if len(r) else np.array([0.0, 1.0])
    return d / (np.linalg.norm(d) + 1e-12)


def _shape_view(cine: EchoCine, cavity: np.ndarray, la: np.ndarray, transducer: np.ndarray | None,
                kind: str) -> tuple[str | None, dict]:
    """A rodent loop's view from the segmentation's shape (:func:`recognise_view`), when
    the header names none; human views come from the header or the view classifier."""
    if kind != "rodent" or cine.meta.view:
        return None, {}
    areas = cavity.reshape(len(cavity), -1).sum(axis=1)
    if not areas.any():
        return None, {}
    t = int(np.argmax(areas))
    view, feats = recognise_view(cavity[t], la[t], _beam_direction(cine.fan_mask, cavity[t], transducer))
    # A vote over the fuller frames (cavity >= 70 % of the largest; at most 15, spread over
    # the loop), not one frame alone: a frame whose cavity is partly traced can look round
    # or tilted; the largest frame's view breaks a tie.
    full = np.flatnonzero(areas >= SHAPE_VOTE_AREA * areas[t])
    full = full[np.linspace(0, len(full) - 1, min(len(full), 15)).round().astype(int)]
    votes = [recognise_view(cavity[i], la[i], _beam_direction(cine.fan_mask, cavity[i], transducer))[0]
             for i in full if i != t] + [view]
    counts = {v: votes.count(v) for v in set(votes) if v is not None}
    if counts:
        top = max(counts.values())
        view = view if counts.get(view) == top else sorted(v for v, c in counts.items() if c == top)[0]
        feats = {**feats, "view_votes": float(counts[view]) / len(votes)}
    return view, feats


# Frames whose traced cavity is at least this share of the largest vote on a rodent
# loop's view (:func:`_shape_view`).
SHAPE_VOTE_AREA = 0.7


def _not_measured(flags: list[str], names: tuple[str, ...], gate: LVViewCheck,
                  species: dict | None = None) -> QuantResult:
    """The result of a loop the gate stopped: every value None, no curves."""
    summary = {k: None for k in _SUMMARY_VALUES}
    summary.update({"n_beats": 0, "n_complete_beats": 0, "beat_source": None, "regional_strain_pct": {},
                    "wall_motion": NOT_ASSESSED["segments"],
                    **{k: v for k, v in NOT_ASSESSED.items() if k != "segments"},
                    "view": None, "view_source": None, "view_probability": None, "lv_view": gate.features,
                    **(species or {})})
    return QuantResult(summary, [], {}, {}, flags + [gate.flag()], names, [])


def _view_of(cine: EchoCine, found: tuple[str, float] | None, shape_view: str | None = None) -> tuple[dict, list[str]]:
    """The view measured: the header's, else the one found in the image (a rodent
    loop's from its shape, a human loop's from the view classifier)."""
    if cine.meta.view:
        return {"view": cine.meta.view, "view_source": cine.meta.view_source or "header", "view_probability": None}, []
    if shape_view is not None:
        return {"view": shape_view, "view_source": "image", "view_probability": None}, []
    if found is None:
        return {"view": None, "view_source": None, "view_probability": None}, []
    view, prob = found
    if prob < VIEW_MIN_PROBABILITY:
        return ({"view": None, "view_source": None, "view_probability": prob},
                [make_flag("view_uncertain", f"the image looks most like {view} but only with probability "
                                             f"{prob:.2f}; segments are named by screen side")])
    return {"view": view, "view_source": "image", "view_probability": prob}, []


# Below this classifier probability the view found in the image is not used.
VIEW_MIN_PROBABILITY = 0.75


def quantify(cine: EchoCine, seg: Segmentation, *, track: bool = True, max_beats: int | None = None,
             found_view: tuple[str, float] | None = None, species: str | None = None,
             edits: ReaderEdits | None = None) -> QuantResult:
    """Measure volumes, LVEF and strain of one loop.

    Nothing is measured when the LV-view gate (:mod:`echoquant.quant.view`) finds no
    measurable LV: every value is None and a ``no_lv_view`` flag says why.

    Args:
        cine: the loop (frames, timing, calibration, flags).
        seg: its segmentation on the same pixel grid.
        track: run speckle tracking for GLS (contour GLS is always computed).
        max_beats: analyse at most this many beats (all by default).
        found_view: ``(view, probability)`` found in the image (e.g. by
            :class:`~echoquant.segment.views.ViewClassifier`), used when the header
            names no view.
        species: ``"mouse"``, ``"rat"`` or ``"human"`` (``"rodent"`` accepted) when the
            caller knows it; None takes the header's or acquisition table's
            (``cine.meta.species``), else infers it from the image depth, the heart rate
            or the frame rate and flags ``species_inferred``. A rodent
            loop whose header names no view has it recognised from the segmentation's
            shape (PLAX, SAX or A4C); a short axis is measured by
            :func:`~echoquant.quant.sax.quantify_sax` (areas and FAC, no volumes).
        edits: a reader's corrections (:class:`~echoquant.quant.edits.ReaderEdits`):
            their ED/ES frames replace the detected beats (``beat_source = "reader"``)
            and their borders the cavity on those frames; everything else is measured
            as without them.

    Returns:
        A :class:`QuantResult`; values that fail QC are None with a flag saying why.
    """
    if seg.labels.shape != cine.frames.shape:
        raise ValueError(f"segmentation {seg.labels.shape} does not match frames {cine.frames.shape}")
    n = cine.n_frames
    named, source, species_flags = loop_species(cine, species)
    kind = "human" if named == "human" else "rodent"
    species_info = {"species": named, "species_source": source}
    cavity = clean_masks(seg.labels == LV_CAVITY)
    if edits is not None and not edits.empty:
        edits.check(n, cine.shape)
        seg, cavity = edits.apply_segmentation(seg, cavity), edits.apply_cavity(cavity)
    reader_beats = None if edits is None else edits.beats()
    # Largest LA component only: a stray LA-labelled blob (another chamber, a vessel)
    # must not pull the LV axis orientation towards itself.
    la = clean_masks(seg.labels == LA, temporal=False)
    transducer = transducer_point(cine)
    shape_view, shape_features = _shape_view(cine, cavity, la, transducer, kind)
    view, view_flags = _view_of(cine, found_view, shape_view)
    names = segment_names_for(view["view"])
    calibrated = cine.spacing_mm is not None and not any(has_flag(cine.flags, c) for c in _CALIBRATION_FLAGS)
    spacing = cine.spacing_mm if calibrated else None
    flags = _input_flags(cine, names, calibrated, view["view"]) + view_flags + species_flags

    if view["view"] == "SAX":
        largest = int(np.argmax(cavity.reshape(n, -1).sum(axis=1)))
        borders: list = [None] * n
        borders[largest] = CavityBorder.of(cavity[largest])
        gate = _gate(cine, seg, cavity, borders, transducer, kind, "SAX")
        if not gate.measurable:
            return _not_measured(flags, names, gate, species_info)
        result = quantify_sax(cine, seg, cavity, spacing=spacing, r_wave_frames=_r_wave_frames(cine), flags=flags,
                              names=names, view=view, gate_features={**gate.features, **shape_features},
                              max_beats=max_beats, beats=reader_beats, track=track)
        result.summary.update(species_info)
        return result
    hint = transducer if (view["view"] or "A4C") in _APICAL else None
    contours = extract_contours(cavity, la, hint)
    if edits is not None:
        contours = edits.apply_traces(contours)
    gate = _gate(cine, seg, cavity, contours, transducer, kind, view["view"])
    if not gate.measurable:
        return _not_measured(flags, names, gate, species_info)
    missing = sum(c is None for c in contours)
    if missing:
        flags.append(make_flag("frames_without_lv", f"{missing} of {n} frames have no usable LV contour"))
    vols = frame_volumes(contours, spacing)
    unit = "mm" if calibrated else "px"
    vkey, lkey, ckey = ("volume_ml" if calibrated else "volume_px3"), f"long_axis_{unit}", f"contour_length_{unit}"
    volume = vols[vkey]

    if reader_beats is not None:
        beats, beat_source = reader_beats, "reader"
        flags += _untraced_reader_frames(beats, contours)
    else:
        beats, beat_source = detect_beats(volume, cine.fps, cine.heart_rate_bpm, _r_wave_frames(cine))
    beats = [b for b in beats if contours[b.ed] is not None and contours[b.es] is not None][:max_beats]
    beat_results: list[BeatResult] = []
    curves = {vkey: volume, lkey: vols[lkey], ckey: vols[ckey]}
    tracks: list[dict | None] = []
    for b in beats:
        tracked = None
        if track:
            tracked = _track_beat(cine.frames, contours, b, n, imaged_myocardium(seg.labels[b.ed], cine.fan_mask),
                                  spacing, cine.fps, names)
            curves.setdefault("strain_pct", []).append(tracked["curve"])
            curves.setdefault("strain_frames", []).append(np.arange(b.ed, b.ed + len(tracked["curve"])))
        tracks.append(tracked)
        beat_results.append(_measure_beat(b, volume, vols[ckey], tracked, calibrated, seg.lv_area_levels))

    lvef_source = "segmentation"
    if view["view"] == "PLAX":
        for b, r in zip(beats, beat_results):
            _plax_beat(r, b, contours, cavity, seg.labels, spacing)
        used = [_plax_tracked(r, t, spacing) for r, t in zip(beat_results, tracks)]
        lvef_source = "tracking" if used and all(used) else ("mixed" if any(used) else "segmentation")
    qc, tracking_ok = _qc_flags(beat_results, volume, vols[lkey], seg)
    summary, withheld = _summarise(beat_results, tracking_ok, kind, cine.fps, names, beat_source)
    qc += check_interval_width(summary)
    summary.update({**view, "lv_view": {**gate.features, **shape_features}, **species_info,
                    "lvef_source": lvef_source if beat_results else None})
    edge = sector_edge_distance(cine.fan_mask)
    motion = summarise_wall_motion([
        _beat_wall_motion(b, contours, t if tracking_ok else None, seg.labels, cine.fan_mask, edge, spacing, names)
        for b, t in zip(beats, tracks)])
    wm = motion.to_dict()
    summary.update({"wall_motion": wm.pop("segments"), **wm})
    landmarks, lm_flags = _landmarks(contours)
    return QuantResult(summary, beat_results, curves, landmarks, flags + qc + withheld + lm_flags, names,
                       [None if c is None else c.points for c in contours])
