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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echoquant.flags import make_flag
from echoquant.quant.contour import N_PER_SIDE, LVContour
from echoquant.quant.volumes import biplane_volume_ml

__all__ = ["STUDY_COLUMNS", "STUDY_METHODS", "StudyClip", "StudyResult", "choose_clip", "group_studies",
           "studies_from_records", "study_key", "study_result"]

STUDY_METHODS = ("biplane", "single_plane_a4c", "single_plane_a2c", "none")
_VALUES = ("lvef_pct", "edv_ml", "esv_ml", "gls_pct")


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
                   n_beats=int(row.get("n_beats") or 0))

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
        for view in ("a4c", "a2c"):
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


def study_result(key: str, clips: list[StudyClip]) -> StudyResult:
    """Study-level values of one study's clips (see the module's rules)."""
    a4c, a2c = choose_clip(clips, "A4C"), choose_clip(clips, "A2C")
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
