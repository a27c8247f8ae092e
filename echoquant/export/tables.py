"""The results table: one row per input file, the column contract of ``results.csv``.

Downstream tools (``echoquant compare``, users' own scripts) depend on these column
names; add columns, never rename them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from echoquant import __version__
from echoquant._files import atomic_path
from echoquant.errors import EchoquantError
from echoquant.flags import flag_code
from echoquant.privacy import scrub_for

if TYPE_CHECKING:
    from echoquant.results import EchoResult, MModeEchoResult

__all__ = ["RESULT_COLUMNS", "TIMING_COLUMNS", "N_SEGMENTS", "error_row", "mmode_row", "result_row", "results_frame",
           "studies_frame", "write_study_tables", "write_tables"]

N_SEGMENTS = 6
_REGIONAL = [f"regional_strain_{k}_pct" for k in range(1, N_SEGMENTS + 1)]
_INTERVALS = [f"{v}_ci_{side}" for v in ("lvef", "gls", "edv", "esv") for side in ("low", "high")]
_MMODE = ["mode", "fs_pct", "lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm", "lv_mass_mg",
          "lv_mass_g", "lvef_teichholz_pct"]
_WALL_MOTION = ["wmsi", "akinetic_extent_pct", "thinnest_wall_ed_mm", "n_segments_assessable", "wall_motion_classes"]

RESULT_COLUMNS = [
    "path", "status", "error_code", "error",
    "patient_id", "study_uid", "series_uid", "sop_uid", "timepoint", "view", "manufacturer", "scanner_model",
    "n_frames", "fps", "timing_source", "spacing_mm", "spacing_row_mm", "spacing_col_mm", "calibration_source",
    "heart_rate_bpm", "heart_rate_bpm_measured",
    "lvef_pct", "edv_ml", "esv_ml", "gls_pct", "gls_contour_pct", "gls_midwall_pct", "lvef_sd_pct", "gls_sd_pct",
    "time_to_peak_ms", "n_beats", "n_complete_beats", "beat_source", "ed_frames", "es_frames",
    *_REGIONAL, "regional_segments",
    "qc_pass", "qc_flags", "model", "echoquant_version", "clip_id", "content_sha256", "elapsed_s",
    # Added with the LV-view gate and the intervals (issue 16): 95 % intervals in the
    # unit of their value; where the view came from (header or image) and the
    # classifier's probability when it came from the image.
    *_INTERVALS, "view_source", "view_probability",
    # Added with study-level results (issue 20): pairs clips of one study without a Study UID.
    "study_date",
    # Added with regional wall motion (issue 19): wall motion score index (1-4), ED length
    # of akinetic or dyskinetic wall (% of the assessable length), the thinnest segment's
    # ED wall thickness, and each segment's class in regional_segments order.
    *_WALL_MOTION,
    # Added with M-mode (issue 18): "2d" (B-mode loop) or "mmode" (M-mode strip), and the
    # M-mode endpoints (medians over beats; lv_mass_g for humans, lv_mass_mg for rodents).
    *_MMODE,
    # Added with rodent views (issue 32): short-axis cavity areas and fractional area
    # change (empty for long-axis views, never computed from the wrong geometry); rodent
    # volumes in µL (empty for humans); the species and where it came from (header,
    # table, inferred from the heart or frame rate).
    "eda_mm2", "esa_mm2", "fac_pct", "fac_ci_low", "fac_ci_high", "edv_ul", "esv_ul", "species", "species_source",
    # Added with preclinical endpoints (issue 33): 2-D parasternal dimensions fill the
    # M-mode columns above where they mean the same (lvidd_mm, lvids_mm, fs_pct, ivsd_mm,
    # ivss_mm, lvpwd_mm, lvpws_mm: PLAX at the mitral leaflet tips, SAX LVID across the
    # short axis, echoquant.quant.plax/saxmotion); the PLAX long-axis length at ED and ES;
    # SAX circumferential (tracking) and radial strain; the SAX ED epicardial area (LV mass).
    "lv_length_mm", "lv_length_es_mm", "gcs_pct", "grs_pct", "epi_eda_mm2",
    # Added with tracked parasternal borders: where fac_pct (SAX; with ESA, LVIDs, FS) and
    # lvef_pct (with ESV) came from (segmentation, tracking or mixed over beats; PLAX
    # loops may take tracking, apical loops always segmentation), and the SAX FAC of the
    # segmented areas alone.
    "fac_source", "lvef_source", "fac_seg_pct",
    # Added with species routing: the bundle whose weights segmented the loop (``model`` is
    # the bundle asked for; the default hands mouse and rat loops to its rodent weights,
    # echoquant_lv_unet_rodent). Empty for M-mode strips, which no network reads.
    "weights",
]
_TEXT_COLUMNS = ("path", "status", "error_code", "error", "patient_id", "study_uid", "series_uid", "sop_uid",
                 "timepoint", "view", "manufacturer", "scanner_model", "timing_source", "calibration_source",
                 "beat_source", "ed_frames", "es_frames", "regional_segments", "qc_flags", "model",
                 "echoquant_version", "clip_id", "content_sha256", "view_source", "study_date", "wall_motion_classes", "mode",
                 "species", "species_source", "fac_source",
                 "lvef_source", "weights")
# Columns that differ between two runs on the same input (excluded from determinism checks).
TIMING_COLUMNS = ("elapsed_s",)

_SUMMARY_KEYS = ("lvef_pct", "edv_ml", "esv_ml", "gls_pct", "gls_contour_pct", "gls_midwall_pct", "lvef_sd_pct",
                 "gls_sd_pct", "time_to_peak_ms", "n_beats", "n_complete_beats", "beat_source",
                 "heart_rate_bpm_measured", *_INTERVALS, "view_source", "view_probability",
                 "wmsi", "akinetic_extent_pct", "thinnest_wall_ed_mm", "n_segments_assessable",
                 "eda_mm2", "esa_mm2", "fac_pct", "fac_ci_low", "fac_ci_high", "species", "species_source",
                 "lvidd_mm", "lvids_mm", "fs_pct", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm", "lv_length_mm",
                 "lv_length_es_mm", "gcs_pct", "grs_pct", "epi_eda_mm2", "fac_source", "lvef_source",
                 "fac_seg_pct")


def _round(v: Any, digits: int = 6) -> Any:
    # Significant digits, not decimals: a mouse ESV of 0.0123 mL keeps its precision.
    # Rounding keeps the table readable and stable in its last digits across platforms.
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else float(f"{v:.{digits}g}")
    return v


def _meta_cells(meta: Any) -> dict[str, Any]:
    return {"patient_id": meta.patient_id, "study_uid": meta.study_uid, "series_uid": meta.series_uid,
            "sop_uid": meta.sop_uid, "timepoint": meta.timepoint, "view": meta.view,
            "manufacturer": meta.manufacturer, "scanner_model": meta.model, "study_date": meta.study_date}


def mmode_row(result: MModeEchoResult, *, clip_id: str | None = None, content_sha256: str | None = None,
              elapsed_s: float | None = None) -> dict[str, Any]:
    """The table row of a measured M-mode strip (B-mode columns empty)."""
    info, summary = result.strip_info, result.quant.summary
    beats = result.quant.beats
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row.update({"path": result.path, "status": "ok", **_meta_cells(result.meta), "mode": "mmode"})
    row.update({k: summary.get(k) for k in _MMODE[1:]})
    row.update({
        # one still frame: no frame rate; the strip's own time axis is in its region
        "n_frames": 1, "fps": None,
        "timing_source": "UltrasoundRegion" if info.get("seconds_per_px") else None,
        "spacing_mm": info.get("mm_per_px"), "spacing_row_mm": info.get("mm_per_px"), "spacing_col_mm": None,
        "calibration_source": "UltrasoundRegion" if info.get("mm_per_px") else None,
        "heart_rate_bpm": info.get("heart_rate_bpm"), "heart_rate_bpm_measured": summary.get("heart_rate_bpm_measured"),
        "n_beats": summary.get("n_beats"), "beat_source": summary.get("ed_source"),
        # times of the strip's ED and ES, in s (columns without a time axis)
        "ed_frames": ";".join(f"{b.ed_time:.4f}" for b in beats), "es_frames": ";".join(f"{b.es_time:.4f}" for b in beats),
        "qc_pass": result.qc_pass, "qc_flags": ";".join(flag_code(f) for f in result.qc_flags),
        "model": result.model, "echoquant_version": __version__, "clip_id": clip_id,
        "content_sha256": content_sha256, "elapsed_s": elapsed_s,
    })
    return {k: _round(v) for k, v in row.items()}


def result_row(result: EchoResult | MModeEchoResult, *, clip_id: str | None = None,
               content_sha256: str | None = None, elapsed_s: float | None = None) -> dict[str, Any]:
    """The table row of a scored clip (B-mode loop or M-mode strip)."""
    if getattr(result, "mode", "2d") == "mmode":
        return mmode_row(result, clip_id=clip_id, content_sha256=content_sha256, elapsed_s=elapsed_s)
    info, summary = result.cine_info, result.quant.summary
    spacing = info.get("spacing_mm")
    row: dict[str, Any] = {"path": result.path, "status": "ok", "error_code": None, "error": None,
                           **_meta_cells(result.meta)}
    row.update({
        "n_frames": info["n_frames"], "fps": info["fps"], "timing_source": info["timing_source"],
        "spacing_mm": None if spacing is None else (spacing[0] + spacing[1]) / 2,
        "spacing_row_mm": None if spacing is None else spacing[0],
        "spacing_col_mm": None if spacing is None else spacing[1],
        "calibration_source": info["calibration_source"], "heart_rate_bpm": info["heart_rate_bpm"],
    })
    row.update({k: summary.get(k) for k in _SUMMARY_KEYS})
    # The header's view, else the one found in the image (None when the gate stopped the loop).
    row["view"] = result.meta.view or summary.get("view")
    row["ed_frames"] = ";".join(map(str, result.ed_frames))
    row["es_frames"] = ";".join(map(str, result.es_frames))
    regional = summary.get("regional_strain_pct") or {}
    names = list(result.quant.segment_names)
    for k, col in enumerate(_REGIONAL):
        row[col] = regional.get(names[k]) if k < len(names) else None
    row["regional_segments"] = ";".join(names)
    motion = summary.get("wall_motion") or []
    row["wall_motion_classes"] = ";".join(m["wall_motion"] for m in motion) if motion else None
    row["mode"] = "2d"
    if summary.get("species") in ("mouse", "rat") and row.get("edv_ml") is not None:
        row["edv_ul"], row["esv_ul"] = 1000.0 * row["edv_ml"], None if row.get("esv_ml") is None else 1000.0 * row["esv_ml"]
    row.update({"qc_pass": result.qc_pass, "qc_flags": ";".join(flag_code(f) for f in result.qc_flags),
                "model": result.model, "weights": result.settings.get("weights"), "echoquant_version": __version__,
                "clip_id": clip_id, "content_sha256": content_sha256, "elapsed_s": elapsed_s})
    return {k: _round(v) for k, v in row.items()}


def error_row(path: str | Path, exc: BaseException, *, status: str = "failed", clip_id: str | None = None,
              content_sha256: str | None = None) -> dict[str, Any]:
    """The table row of a clip that failed (or was skipped), with a readable error."""
    if isinstance(exc, EchoquantError):
        code, message = exc.code, exc.message
    else:
        # An unexpected error: the type says where to look; the batch goes on.
        code, message = "internal_error", f"{type(exc).__name__}: {exc}; please report this with the file's header"
    # Error messages can quote header values: no patient identifiers in them.
    message = scrub_for(path, message)
    return {"path": str(path), "status": status, "error_code": code, "error": message, "qc_pass": False,
            "qc_flags": "", "echoquant_version": __version__, "clip_id": clip_id, "content_sha256": content_sha256}


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with every column of the contract, in its order."""
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    # Integers stay integers where present (pandas would make them floats next to NaN).
    for col in ("n_frames", "n_beats", "n_complete_beats"):
        df[col] = df[col].astype("Int64")
    df["qc_pass"] = df["qc_pass"].astype("boolean")
    # Text columns stay text even when every value is missing (a failed-only batch).
    for col in _TEXT_COLUMNS:
        df[col] = df[col].astype("string")
    return df


def write_tables(rows: list[dict[str, Any]], out_dir: str | Path, stem: str = "results") -> list[Path]:
    """Write ``STEM.csv`` and ``STEM.parquet`` atomically; returns their paths."""
    return _write_frame(results_frame(rows), Path(out_dir), stem)


def studies_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Study rows as a DataFrame with every column of ``studies.csv``, in order."""
    from echoquant.quant.study import STUDY_COLUMNS

    df = pd.DataFrame([{k: _round(v) for k, v in r.items()} for r in rows], columns=STUDY_COLUMNS)
    df["qc_pass"] = df["qc_pass"].astype("boolean")
    df["n_clips"] = df["n_clips"].astype("Int64")
    text = [c for c in STUDY_COLUMNS if c.endswith(("_key", "_uid", "_id", "_path", "_date")) or c in
            ("timepoint", "method", "qc_flags", "fs_source", "wall_motion_classes", "regional_segments")]
    for col in text:
        df[col] = df[col].astype("string")
    return df


def write_study_tables(rows: list[dict[str, Any]], out_dir: str | Path, stem: str = "studies") -> list[Path]:
    """Write ``studies.csv`` and ``studies.parquet`` atomically (one row per study)."""
    return _write_frame(studies_frame(rows), Path(out_dir), stem)


def _write_frame(df: pd.DataFrame, out_dir: Path, stem: str) -> list[Path]:
    csv, parquet = out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False)
    return [csv, parquet]


def read_record(path: Path) -> dict[str, Any] | None:
    """A per-clip JSON record, or None when it is absent or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
