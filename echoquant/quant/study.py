"""Study-level results: biplane LVEF and volumes from the best apical 4- and 2-chamber loops
of each study, single-plane when a view is missing (ASE/EACVI 2015: biplane method of
disks is the recommended method; single plane a fallback).

The unit is the clip record of a batch (``clips/<clip_id>.json``: the results row and
the measurement, with each measured beat's ED and ES contours), so studies can be
formed after a run, across shards (``echoquant collect``), or from loops scored in
Python (:func:`echoquant.api.score_study`).

Rules, stated once:

* **Study**: the Study Instance UID; without one, patient ID plus study date; clips
  with neither are not grouped.
* **Best clip of a view** (A4C, A2C; the view from the header, else the classifier):
  passes QC, then the narrowest LVEF interval, then the most beats, then the path.
* **Method**: ``biplane`` when both best clips pass QC, are calibrated and have beats;
  else ``single_plane_a4c`` (preferred) or ``single_plane_a2c`` from the best clip
  that has an LVEF; else ``none``.
* **Beats**: the two loops are separate acquisitions, so ED and ES are each loop's
  own; biplane values are computed for beat pairs (1st with 1st, 2nd with 2nd...)
  and their median is reported.
* **Intervals**: biplane half-width = half the root sum of squares of the two
  clips' half-widths (the biplane volume averages the two views' errors);
  single-plane: the clip's interval.

Parasternal (preclinical) studies, those with a PLAX or SAX loop and no apical pair:

* **Best clips**: the best PLAX loop (as above, by its LVEF interval), the best SAX loop
  (by its FAC interval) and the best M-mode strip (passes QC, then the most beats).
* **QC**: every study value comes from a clip that passes QC; a failing best clip is
  named in a ``clip_fails_qc`` flag and left out (the study passes QC when any clip does).
* **Method**: ``bullet`` when the PLAX and SAX loops both pass QC and are calibrated:
  EDV = 5/6 EDA L_ED, ESV = 5/6 ESA L_ES, LVEF from them, and the area-length LV mass
  from the SAX epicardial and endocardial ED areas and the PLAX ED length
  (:mod:`echoquant.quant.bullet`); each loop's own beats, median values. Else
  ``single_plane_plax`` (the PLAX loop's method-of-disks values, flagged
  ``bullet_view_missing`` or ``bullet_qc``), else ``none`` (no LVEF; a SAX loop's FAC
  and strain are still given).
* **Side by side**: FAC, GCS, GRS, areas and the SAX wall motion from the SAX loop; GLS
  and the long-axis length from the PLAX loop; the M-mode strip's FS, Teichholz LVEF and
  cube-formula mass (``fs_mmode_pct``, ``lvef_teichholz_pct``, ``lv_mass_mmode_mg``).
  ``fs_pct`` is the M-mode FS when there is a strip, else the SAX 2-D FS, else the PLAX
  2-D FS (``fs_source`` says which). ``akinetic_extent_pct`` and ``wmsi`` are the SAX
  loop's (the section through the infarct), else the PLAX loop's.
* **Interval of the bullet LVEF**: LVEF = 1 - (1 - FAC) L_ES / L_ED, so its half-width is
  the SAX loop's FAC half-width times L_ES / L_ED (the length's own error is left out).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echoquant.flags import make_flag
from echoquant.quant.bullet import area_length_mass_mg, bullet_volume_ml
from echoquant.quant.contour import N_PER_SIDE, LVContour
from echoquant.quant.intervals import as_finite
from echoquant.quant.volumes import biplane_volume_ml

__all__ = ["PARASTERNAL_VALUES", "STUDY_COLUMNS", "STUDY_METHODS", "StudyClip", "StudyResult", "choose_clip",
           "group_studies", "parasternal_study", "studies_from_records", "study_key", "study_result"]

STUDY_METHODS = ("biplane", "single_plane_a4c", "single_plane_a2c", "bullet", "single_plane_plax", "none")
_VALUES = ("lvef_pct", "edv_ml", "esv_ml", "gls_pct")
# What parasternal studies use of each clip's row.
_EXTRA = ("mode", "species", "lv_length_mm", "lv_length_es_mm", "eda_mm2", "esa_mm2", "epi_eda_mm2", "fac_pct",
          "fac_ci_low", "fac_ci_high", "gcs_pct", "grs_pct", "fs_pct", "lvidd_mm", "lvids_mm", "akinetic_extent_pct",
          "wmsi", "lvef_teichholz_pct", "lv_mass_mg", "lv_mass_g", "wall_motion_classes", "regional_segments")
# Study values of parasternal studies (beside _VALUES).
PARASTERNAL_VALUES = ("fac_pct", "gcs_pct", "grs_pct", "eda_mm2", "esa_mm2", "lv_length_mm", "lv_mass_mg",
                      "lv_mass_g", "fs_pct", "fs_source", "lvidd_mm", "lvids_mm", "akinetic_extent_pct", "wmsi",
                      "fs_mmode_pct", "lvef_teichholz_pct", "lv_mass_mmode_mg", "lvef_plax_pct", "edv_ul", "esv_ul",
                      "wall_motion_classes", "regional_segments")


@dataclass
class StudyClip:
    """What study-level results need of one scored clip."""

    path: str
    view: str | None
    qc_pass: bool
    values: dict[str, float | None]
    intervals: dict[str, tuple[float | None, float | None]]
    spacing_mm: tuple[float, float] | None
    beats: list[dict[str, Any]] = field(default_factory=list)
    ids: dict[str, str | None] = field(default_factory=dict)
    n_beats: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> StudyClip | None:
        """From a clip record (``{"row": ..., "result": ...}``); None for failed or skipped files."""
        row, result = record.get("row") or {}, record.get("result") or {}
        if row.get("status") != "ok":
            return None
        spacing = None
        # The spacing counts only when it was trusted: the row then has no volumes_withheld flag
        # (an EDV withheld as implausible is another matter and does not void the calibration).
        trusted = "volumes_withheld" not in str(row.get("qc_flags") or "").split(";")
        if trusted and row.get("spacing_row_mm") and row.get("spacing_col_mm"):
            spacing = (float(row["spacing_row_mm"]), float(row["spacing_col_mm"]))
        ids = {k: (None if row.get(k) is None else str(row.get(k))) for k in
               ("patient_id", "study_uid", "series_uid", "sop_uid", "timepoint", "study_date", "clip_id")}
        return cls(path=str(row.get("path")), view=row.get("view"), qc_pass=bool(row.get("qc_pass")),
                   values={k: row.get(k) for k in _VALUES},
                   intervals={k: (row.get(f"{k.split('_')[0]}_ci_low"), row.get(f"{k.split('_')[0]}_ci_high"))
                              for k in _VALUES},
                   spacing_mm=spacing, beats=list(result.get("beat_contours_px") or []), ids=ids,
                   n_beats=int(row.get("n_beats") or 0), extra={k: row.get(k) for k in _EXTRA})

    def half_width(self, key: str) -> float | None:
        lo, hi = self.intervals.get(key, (None, None))
        return None if lo is None or hi is None else (hi - lo) / 2


@dataclass
class StudyResult:
    """One study's values, the method used and the clips they came from."""

    study_key: str
    method: str
    values: dict[str, float | None]
    intervals: dict[str, tuple[float | None, float | None]]
    single_plane: dict[str, float | None]
    clips: dict[str, StudyClip | None]
    n_clips: int
    qc_pass: bool
    flags: list[str]

    def row(self) -> dict[str, Any]:
        """The study's row of ``studies.csv`` (:data:`STUDY_COLUMNS`)."""
        first = next((c for c in self.clips.values() if c is not None), None)
        ids = first.ids if first else {}
        out: dict[str, Any] = {"study_key": self.study_key, "study_uid": ids.get("study_uid"),
                               "patient_id": ids.get("patient_id"), "study_date": ids.get("study_date"),
                               "timepoint": ids.get("timepoint"), "method": self.method, **self.values}
        for key in _VALUES:
            name = key.split("_")[0]
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = self.intervals.get(key, (None, None))
        out.update(self.single_plane)
        for view in ("a4c", "a2c", "plax", "sax", "mmode"):
            c = self.clips.get(view.upper())
            out[f"{view}_path"] = None if c is None else c.path
            out[f"{view}_sop_uid"] = None if c is None else c.ids.get("sop_uid")
            out[f"{view}_clip_id"] = None if c is None else c.ids.get("clip_id")
        out.update({"n_clips": self.n_clips, "qc_pass": self.qc_pass, "qc_flags": ";".join(self.flags)})
        return out


STUDY_COLUMNS = [
    "study_key", "study_uid", "patient_id", "study_date", "timepoint", "method",
    "lvef_pct", "edv_ml", "esv_ml", "gls_pct",
    "lvef_ci_low", "lvef_ci_high", "edv_ci_low", "edv_ci_high", "esv_ci_low", "esv_ci_high", "gls_ci_low",
    "gls_ci_high",
    "lvef_a4c_pct", "lvef_a2c_pct", "edv_a4c_ml", "edv_a2c_ml", "esv_a4c_ml", "esv_a2c_ml",
    "a4c_path", "a4c_sop_uid", "a4c_clip_id", "a2c_path", "a2c_sop_uid", "a2c_clip_id",
    "n_clips", "qc_pass", "qc_flags",
    # Parasternal (preclinical) studies: bullet volumes and LVEF in lvef_pct/edv_ml/esv_ml
    # (method = bullet), area-length LV mass, SAX FAC and strain, FS, M-mode side by side.
    *PARASTERNAL_VALUES,
    "plax_path", "plax_sop_uid", "plax_clip_id", "sax_path", "sax_sop_uid", "sax_clip_id", "mmode_path",
    "mmode_sop_uid", "mmode_clip_id",
]


def study_key(clip: StudyClip) -> str | None:
    """The Study Instance UID; else ``patient_id|study_date``; else None (not grouped)."""
    if clip.ids.get("study_uid"):
        return str(clip.ids["study_uid"])
    if clip.ids.get("patient_id") and clip.ids.get("study_date"):
        return f"{clip.ids['patient_id']}|{clip.ids['study_date']}"
    return None


def group_studies(clips: Iterable[StudyClip]) -> dict[str, list[StudyClip]]:
    """Clips by study (input order kept); clips without a study key are left out."""
    out: dict[str, list[StudyClip]] = defaultdict(list)
    for c in clips:
        key = study_key(c)
        if key is not None:
            out[key].append(c)
    return dict(out)


def choose_clip(clips: list[StudyClip], view: str) -> StudyClip | None:
    """The best clip of a view: passes QC, then the narrowest LVEF interval, then the most
    beats, then the path (so the choice is the same in every run)."""
    cand = [c for c in clips if c.view == view and c.values.get("lvef_pct") is not None]
    if not cand:
        return None
    return min(cand, key=lambda c: (not c.qc_pass, c.half_width("lvef_pct") or np.inf, -c.n_beats, c.path))


def _contour(points: list | None) -> LVContour | None:
    if points is None or len(points) != 2 * N_PER_SIDE + 1:
        return None
    pts = np.asarray(points, dtype=np.float64)
    return LVContour(pts, pts[N_PER_SIDE], np.stack([pts[0], pts[-1]]), "stored")


def _biplane_beats(a4c: StudyClip, a2c: StudyClip) -> tuple[float, float, float] | None:
    """Median biplane EDV, ESV and LVEF over beat pairs (k-th beat of each loop)."""
    values = []
    for b4, b2 in zip(a4c.beats, a2c.beats):
        cs = [_contour(b4.get("ed")), _contour(b2.get("ed")), _contour(b4.get("es")), _contour(b2.get("es"))]
        if any(c is None for c in cs):
            continue
        edv = biplane_volume_ml(cs[0], a4c.spacing_mm, cs[1], a2c.spacing_mm)
        esv = biplane_volume_ml(cs[2], a4c.spacing_mm, cs[3], a2c.spacing_mm)
        if edv > 0 and np.isfinite(edv) and np.isfinite(esv):
            values.append((edv, esv, 100.0 * (edv - esv) / edv))
    if not values:
        return None
    edv, esv, ef = np.median(np.asarray(values), axis=0)
    return float(edv), float(esv), float(ef)


def _combined_interval(value: float | None, a4c: StudyClip, a2c: StudyClip, key: str,
                       relative: bool) -> tuple[float | None, float | None]:
    h4, h2 = a4c.half_width(key), a2c.half_width(key)
    if value is None or h4 is None or h2 is None:
        return None, None
    if relative:  # volumes: combine relative half-widths
        v4, v2 = a4c.values.get(key), a2c.values.get(key)
        if not v4 or not v2:
            return None, None
        half = 0.5 * float(np.hypot(h4 / v4, h2 / v2)) * value
    else:
        half = 0.5 * float(np.hypot(h4, h2))
    return value - half, value + half


def _mean_gls(clips: list[StudyClip]) -> float | None:
    g = [c.values.get("gls_pct") for c in clips if c.values.get("gls_pct") is not None]
    return float(np.mean(g)) if g else None


def _best_sax(clips: list[StudyClip]) -> StudyClip | None:
    """The best SAX loop: passes QC, then the narrowest FAC interval, the most beats, the path."""
    cand = [c for c in clips if c.view == "SAX" and c.extra.get("mode") != "mmode" and c.extra.get("fac_pct") is not None]
    if not cand:
        return None

    def width(c: StudyClip) -> float:
        lo, hi = as_finite(c.extra.get("fac_ci_low")), as_finite(c.extra.get("fac_ci_high"))
        return hi - lo if lo is not None and hi is not None else np.inf

    return min(cand, key=lambda c: (not c.qc_pass, width(c), -c.n_beats, c.path))


def _mmode(clips: list[StudyClip]) -> StudyClip | None:
    cand = [c for c in clips if c.extra.get("mode") == "mmode" and c.extra.get("fs_pct") is not None]
    return min(cand, key=lambda c: (not c.qc_pass, -c.n_beats, c.path)) if cand else None


def _bullet(plax: StudyClip, sax: StudyClip) -> dict[str, float | None] | None:
    """Bullet EDV/ESV/LVEF and area-length mass of a PLAX and a SAX loop, or None
    without the areas and lengths (uncalibrated)."""
    led, les = as_finite(plax.extra.get("lv_length_mm")), as_finite(plax.extra.get("lv_length_es_mm"))
    eda, esa = as_finite(sax.extra.get("eda_mm2")), as_finite(sax.extra.get("esa_mm2"))
    if None in (led, les, eda, esa) or plax.spacing_mm is None or sax.spacing_mm is None:
        return None
    edv, esv = bullet_volume_ml(eda, led), bullet_volume_ml(esa, les)
    epi = as_finite(sax.extra.get("epi_eda_mm2"))
    mass = area_length_mass_mg(epi, eda, led) if epi is not None and epi >= eda else None
    return {"edv_ml": edv, "esv_ml": esv, "lvef_pct": 100.0 * (edv - esv) / edv if edv > 0 else None,
            "lv_mass_mg": mass}


def _side_by_side(plax: StudyClip | None, sax: StudyClip | None, mm: StudyClip | None) -> dict[str, Any]:
    """FAC, strain, FS, wall motion and M-mode values beside the study's LVEF."""
    def of(c: StudyClip | None, k: str) -> Any:
        return None if c is None else c.extra.get(k)

    fs_from = next(((name, c) for name, c in (("mmode", mm), ("sax", sax), ("plax", plax))
                    if of(c, "fs_pct") is not None), (None, None))
    wall = sax if of(sax, "akinetic_extent_pct") is not None else plax
    out = {"fac_pct": of(sax, "fac_pct"), "gcs_pct": of(sax, "gcs_pct"), "grs_pct": of(sax, "grs_pct"),
           "eda_mm2": of(sax, "eda_mm2"), "esa_mm2": of(sax, "esa_mm2"), "lv_length_mm": of(plax, "lv_length_mm"),
           "fs_pct": of(fs_from[1], "fs_pct"), "fs_source": fs_from[0],
           "lvidd_mm": of(fs_from[1], "lvidd_mm"), "lvids_mm": of(fs_from[1], "lvids_mm"),
           "akinetic_extent_pct": of(wall, "akinetic_extent_pct"), "wmsi": of(wall, "wmsi"),
           "wall_motion_classes": of(wall, "wall_motion_classes"), "regional_segments": of(wall, "regional_segments"),
           "fs_mmode_pct": of(mm, "fs_pct"), "lvef_teichholz_pct": of(mm, "lvef_teichholz_pct"),
           "lv_mass_mmode_mg": of(mm, "lv_mass_mg"), "lvef_plax_pct": None if plax is None else plax.values.get("lvef_pct")}
    return out


def parasternal_study(key: str, clips: list[StudyClip]) -> StudyResult:
    """Study-level values of a parasternal study (see the module's rules): every value
    comes from a clip that passes QC; a failing clip is named in a flag and left out."""
    chosen = {"PLAX": choose_clip(clips, "PLAX"), "SAX": _best_sax(clips), "MMODE": _mmode(clips)}
    passing = {view: c for view, c in chosen.items() if c is not None and c.qc_pass}
    flags = [make_flag("clip_fails_qc", f"the study's {view} clip fails QC; its values are left out")
             for view, c in chosen.items() if c is not None and not c.qc_pass]
    plax, sax, mm = passing.get("PLAX"), passing.get("SAX"), passing.get("MMODE")
    values: dict[str, Any] = dict.fromkeys(_VALUES)
    intervals: dict[str, tuple[float | None, float | None]] = {}
    method = "none"
    bullet = None if plax is None or sax is None else _bullet(plax, sax)
    if bullet is not None:
        method = "bullet"
        values.update(bullet, gls_pct=plax.values.get("gls_pct"))
        intervals["lvef_pct"] = _bullet_interval(bullet["lvef_pct"], plax, sax)
    elif plax is not None and sax is not None:
        flags.append(make_flag("bullet_needs_calibration", "the PLAX or SAX loop has no trusted calibration: "
                                                           "single-plane PLAX values"))
    elif chosen["PLAX"] is None or chosen["SAX"] is None:
        missing = " and ".join(v for v in ("PLAX", "SAX") if chosen[v] is None)
        flags.append(make_flag("bullet_view_missing", f"no {missing} loop in this study: "
                                                      + ("single-plane PLAX values" if plax else "no LVEF")))
    else:
        flags.append(make_flag("bullet_qc", "the PLAX or SAX loop fails QC: "
                                            + ("single-plane PLAX values" if plax else "no LVEF")))
    if method == "none" and plax is not None and plax.values.get("lvef_pct") is not None:
        method = "single_plane_plax"
        values.update(plax.values)
        intervals = dict(plax.intervals)
    values.update(_side_by_side(plax, sax, mm))
    species = next((c.extra.get("species") for c in passing.values() if c.extra.get("species")), None)
    if species == "human" and values.get("lv_mass_mg") is not None:
        values["lv_mass_g"], values["lv_mass_mg"] = values["lv_mass_mg"] / 1000.0, None
    if species in ("mouse", "rat") and values.get("edv_ml") is not None:
        values["edv_ul"] = 1000.0 * values["edv_ml"]
        values["esv_ul"] = None if values.get("esv_ml") is None else 1000.0 * values["esv_ml"]
    return StudyResult(key, method, values, intervals, {}, chosen, len(clips), bool(passing), flags)


def _bullet_interval(lvef: float | None, plax: StudyClip, sax: StudyClip) -> tuple[float | None, float | None]:
    lo, hi = as_finite(sax.extra.get("fac_ci_low")), as_finite(sax.extra.get("fac_ci_high"))
    led, les = as_finite(plax.extra.get("lv_length_mm")), as_finite(plax.extra.get("lv_length_es_mm"))
    if lvef is None or lo is None or hi is None or not led or les is None:
        return None, None
    half = (hi - lo) / 2 * les / led
    return max(0.0, lvef - half), min(100.0, lvef + half)


def study_result(key: str, clips: list[StudyClip]) -> StudyResult:
    """Study-level values of one study's clips (see the module's rules)."""
    a4c, a2c = choose_clip(clips, "A4C"), choose_clip(clips, "A2C")
    parasternal = any(c.view in ("PLAX", "SAX") or c.extra.get("mode") == "mmode" for c in clips)
    if parasternal and a4c is None and a2c is None:
        return parasternal_study(key, clips)
    single = {f"{v}_{view.lower()}_{u}": (None if c is None else c.values.get(f"{v}_{u}"))
              for view, c in (("A4C", a4c), ("A2C", a2c)) for v, u in (("lvef", "pct"), ("edv", "ml"), ("esv", "ml"))}
    flags: list[str] = []
    chosen = {"A4C": a4c, "A2C": a2c}
    if a4c is not None and a2c is not None and a4c.qc_pass and a2c.qc_pass:
        if a4c.spacing_mm is None or a2c.spacing_mm is None:
            flags.append(make_flag("biplane_needs_calibration", "a clip of the pair has no trusted calibration: "
                                                                "single-plane values reported"))
        else:
            bp = _biplane_beats(a4c, a2c)
            if bp is not None:
                edv, esv, ef = bp
                values = {"lvef_pct": ef, "edv_ml": edv, "esv_ml": esv, "gls_pct": _mean_gls([a4c, a2c])}
                intervals = {"lvef_pct": _combined_interval(ef, a4c, a2c, "lvef_pct", False),
                             "edv_ml": _combined_interval(edv, a4c, a2c, "edv_ml", True),
                             "esv_ml": _combined_interval(esv, a4c, a2c, "esv_ml", True),
                             "gls_pct": _combined_interval(values["gls_pct"], a4c, a2c, "gls_pct", False)}
                return StudyResult(key, "biplane", values, intervals, single, chosen, len(clips), True, flags)
            flags.append(make_flag("biplane_no_contours", "the clip records hold no ED/ES contours to pair"))
    elif a4c is None or a2c is None:
        missing = "A2C" if a4c is not None else "A4C" if a2c is not None else "A4C and A2C"
        flags.append(make_flag("view_missing", f"no {missing} loop with an LVEF in this study: "
                                               + ("single-plane values" if a4c or a2c else "no values")))
    else:
        flags.append(make_flag("biplane_qc", "a clip of the pair fails QC: single-plane values from the better view"))
    # Fallback: the A4C clip if it passes QC (or nothing passes), else the A2C clip.
    use = next((c for c in (a4c, a2c) if c is not None and c.qc_pass), a4c or a2c)
    if use is None:
        return StudyResult(key, "none", dict.fromkeys(_VALUES), {}, single, {"A4C": None, "A2C": None},
                           len(clips), False, flags)
    method = "single_plane_a4c" if use is a4c else "single_plane_a2c"
    return StudyResult(key, method, dict(use.values), dict(use.intervals), single, {use.view: use}, len(clips),
                       use.qc_pass, flags)


def studies_from_records(records: Iterable[dict[str, Any] | None]) -> list[StudyResult]:
    """Study results of every study among clip records, sorted by study key."""
    clips = [c for c in (StudyClip.from_record(r) for r in records if r) if c is not None]
    return [study_result(k, v) for k, v in sorted(group_studies(clips).items())]
