"""Study-level results (issue 20): pairing by Study UID and by patient + date, the
best-clip rule, the single-plane fallback, sharded collect, score_study, the study SR
and compare on study values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from echoquant.quant.contour import N_PER_SIDE
from echoquant.quant.study import StudyClip, choose_clip, group_studies, studies_from_records, study_result


def _ellipse_contour(a: float, b: float) -> list[list[float]]:
    """Half-ellipse contour (hinge -> apex -> hinge) of long axis ``a`` and half-width ``b`` pixels."""
    t = np.linspace(-np.pi / 2, np.pi / 2, 2 * N_PER_SIDE + 1)
    x, y = 100 + b * np.sin(t), 100 - a * np.cos(t)
    return np.stack([x, y], axis=1).tolist()


def _record(path: str, view: str, lvef: float, *, study_uid: str | None = "1.2.3", patient: str = "P1",
            date: str | None = "20260101", qc: bool = True, half: float = 5.0, beats: int = 2,
            spacing: float | None = 0.5, a_ed: float = 80, b_ed: float = 25, b_es: float = 18) -> dict:
    edv = 100.0 if spacing else None
    row = {"path": path, "status": "ok", "view": view, "qc_pass": qc, "lvef_pct": lvef, "edv_ml": edv,
           "esv_ml": None if edv is None else edv * (1 - lvef / 100), "gls_pct": -18.0, "lvef_ci_low": lvef - half,
           "lvef_ci_high": lvef + half, "edv_ci_low": None, "edv_ci_high": None, "esv_ci_low": None,
           "esv_ci_high": None, "gls_ci_low": -20.0, "gls_ci_high": -16.0, "spacing_row_mm": spacing,
           "spacing_col_mm": spacing, "patient_id": patient, "study_uid": study_uid, "study_date": date,
           "sop_uid": f"sop-{path}", "clip_id": path.replace("/", "_"), "n_beats": beats, "timepoint": "baseline",
           "qc_flags": "" if spacing else "volumes_withheld"}
    contours = [{"ed_frame": 10 * k, "es_frame": 10 * k + 4, "ed": _ellipse_contour(a_ed, b_ed),
                 "es": _ellipse_contour(a_ed * 0.85, b_es)} for k in range(beats)]
    return {"row": row, "result": {"beat_contours_px": contours}}


def test_biplane_of_two_ellipse_views_matches_the_disk_formula():
    """A4C half-width 25 px and A2C half-width 20 px over an 80 px long axis at 0.5 mm/px:
    V = pi/4 * sum(a_i b_i) h, an ellipsoid with semi-axes 40, 12.5, 10 mm (2/3 of the
    cylinder for a half-ellipse revolved... computed here by brute force of the same disks)."""
    r4 = _record("a4c.dcm", "A4C", 40.0, b_ed=25, b_es=18)
    r2 = _record("a2c.dcm", "A2C", 45.0, b_ed=20, b_es=15)
    (s,) = studies_from_records([r4, r2])
    assert s.method == "biplane" and s.qc_pass
    # Analytic: half-ellipsoid of long axis L = 40 mm, semi-axes 12.5 and 10 mm: 2/3 pi a b L.
    edv = 2 / 3 * np.pi * 12.5 * 10 * 40 / 1000
    assert s.values["edv_ml"] == pytest.approx(edv, rel=0.03)
    esv = 2 / 3 * np.pi * 9 * 7.5 * 34 / 1000
    assert s.values["esv_ml"] == pytest.approx(esv, rel=0.03)
    assert s.values["lvef_pct"] == pytest.approx(100 * (1 - esv / edv), abs=1.0)
    lo, hi = s.intervals["lvef_pct"]
    assert hi - lo == pytest.approx(np.hypot(5, 5), rel=1e-6)  # half of the root sum of squares, times 2
    row = s.row()
    assert row["a4c_path"] == "a4c.dcm" and row["a2c_path"] == "a2c.dcm" and row["lvef_a4c_pct"] == 40.0


def test_pairing_by_uid_and_by_patient_and_date():
    clips = [StudyClip.from_record(r) for r in (
        _record("1.dcm", "A4C", 50, study_uid="9.9"), _record("2.dcm", "A2C", 50, study_uid="9.9"),
        _record("3.dcm", "A4C", 50, study_uid=None, patient="Q", date="20260202"),
        _record("4.dcm", "A2C", 50, study_uid=None, patient="Q", date="20260202"),
        _record("5.dcm", "A4C", 50, study_uid=None, patient="Q", date="20260303"),
        _record("6.dcm", "A4C", 50, study_uid=None, patient="R", date=None))]
    groups = group_studies(clips)
    assert {k: [c.path for c in v] for k, v in groups.items()} == {
        "9.9": ["1.dcm", "2.dcm"], "Q|20260202": ["3.dcm", "4.dcm"], "Q|20260303": ["5.dcm"]}


def test_missing_two_chamber_falls_back_to_single_plane():
    (s,) = studies_from_records([_record("a.dcm", "A4C", 55.0), {"row": {"status": "failed", "path": "x"}}])
    assert s.method == "single_plane_a4c" and s.values["lvef_pct"] == 55.0
    assert "view_missing" in s.row()["qc_flags"] and s.row()["a2c_path"] is None
    (s,) = studies_from_records([_record("b.dcm", "A2C", 48.0)])
    assert s.method == "single_plane_a2c"


def test_two_four_chamber_loops_use_the_better_one():
    clips = [StudyClip.from_record(r) for r in (
        _record("wide.dcm", "A4C", 40.0, half=12.0), _record("tight.dcm", "A4C", 60.0, half=4.0),
        _record("failing.dcm", "A4C", 70.0, half=1.0, qc=False))]
    assert choose_clip(clips, "A4C").path == "tight.dcm"  # passes QC, narrowest interval
    s = study_result("1.2.3", clips + [StudyClip.from_record(_record("two.dcm", "A2C", 58.0))])
    assert s.method == "biplane" and s.clips["A4C"].path == "tight.dcm" and s.n_clips == 4


def test_failing_or_uncalibrated_pair_is_not_combined():
    s = study_result("k", [StudyClip.from_record(_record("a.dcm", "A4C", 50.0)),
                           StudyClip.from_record(_record("b.dcm", "A2C", 30.0, qc=False))])
    assert s.method == "single_plane_a4c" and "biplane_qc" in s.row()["qc_flags"]
    s = study_result("k", [StudyClip.from_record(_record("a.dcm", "A4C", 50.0, spacing=None)),
                           StudyClip.from_record(_record("b.dcm", "A2C", 52.0, spacing=None))])
    assert s.method == "single_plane_a4c" and "biplane_needs_calibration" in s.row()["qc_flags"]
    assert s.values["edv_ml"] is None
    # A spacing in the header that the reader did not trust (volumes withheld) is not used either.
    untrusted = [_record("a.dcm", "A4C", 50.0), _record("b.dcm", "A2C", 52.0)]
    untrusted[1]["row"]["qc_flags"] = "calibration_untrusted;volumes_withheld"
    s = study_result("k", [StudyClip.from_record(r) for r in untrusted])
    assert s.method == "single_plane_a4c" and "biplane_needs_calibration" in s.row()["qc_flags"]


@pytest.fixture(scope="module")
def paired_batch(tmp_path_factory):
    """Two generated studies (A4C + A2C of one heart each) analysed in two shards and collected."""
    from echoquant.api import Analyzer
    from echoquant.batch import BatchOptions, collect, run_batch
    from echoquant.synth.write import write_study_pairs

    from echoquant.synth.write import write_suite

    root = tmp_path_factory.mktemp("studies")
    write_study_pairs(root / "data", 2, seed=11, preset="human")
    write_suite(root / "data" / "lone", 1, seed=12, preset="human_a4c")  # a study with no 2-chamber loop
    analyzer = Analyzer(device="cpu", track=False)
    for part in (0, 1):
        run_batch([root / "data"], root / "out", analyzer,
                  BatchOptions(num_parts=2, part_id=part, workers=0, resume=part == 1, sr=True))
    assert not (root / "out" / "studies.csv").exists()  # a shard alone writes no studies
    collect(root / "out", sr=True)
    return root


def test_sharded_run_collects_biplane_studies(paired_batch):
    truth = pd.read_csv(paired_batch / "data" / "truth.csv")
    studies = pd.read_csv(paired_batch / "out" / "studies.csv")
    lone = studies[studies["a4c_path"].str.contains("/lone/")]
    assert len(lone) == 1 and lone["method"].iloc[0] == "single_plane_a4c"
    assert "view_missing" in lone["qc_flags"].iloc[0]
    studies = studies.drop(lone.index)
    assert len(studies) == 2 and (studies["method"] == "biplane").all()
    assert studies["a4c_path"].str.endswith("_a4c.dcm").all() and studies["a2c_path"].str.endswith("_a2c.dcm").all()
    for _, s in studies.iterrows():
        t = truth[truth["file"] == s["a4c_path"].split("/")[-1]].iloc[0]
        assert abs(s["lvef_pct"] - t["lvef_pct"]) < 12
        assert s["lvef_ci_low"] < s["lvef_pct"] < s["lvef_ci_high"]
        assert min(s["lvef_a4c_pct"], s["lvef_a2c_pct"]) - 1 <= s["lvef_pct"] <= max(s["lvef_a4c_pct"],
                                                                                      s["lvef_a2c_pct"]) + 1


def test_study_sr_reads_back_with_both_references(paired_batch, tmp_path):
    import highdicom as hd
    import pydicom

    from echoquant.export.sr import write_study_sr
    from echoquant.quant.study import studies_from_records
    from echoquant.export.tables import read_record

    records = [read_record(p) for p in sorted((paired_batch / "out" / "clips").glob("*.json"))]
    study = studies_from_records(records)[0]
    path = write_study_sr(tmp_path / "study.dcm", study, "echoquant_lv_unet")
    sr = hd.sr.srread(path)
    refs = {str(r.ReferencedSOPInstanceUID) for ev in sr.CurrentRequestedProcedureEvidenceSequence
            for se in ev.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}
    sources = {str(pydicom.dcmread(c.path, stop_before_pixels=True).SOPInstanceUID) for c in study.clips.values()}
    assert len(sources) == 2 and sources <= refs
    groups = sr.content.get_image_measurement_groups()
    assert len(groups) == 1
    methods = {str(m.method.value) for m in groups[0].get_measurements() if m.method is not None}
    assert methods == {"125207"}
    names = {m.name.value for m in groups[0].get_measurements()}
    assert {"18043-0", "18026-5", "18148-7"} <= names
    # the batch wrote the same study SRs
    assert len(list((paired_batch / "out" / "sr" / "studies").glob("*.dcm"))) == 3


def test_score_study_combines_one_studys_loops(paired_batch):
    from echoquant.api import score_study

    files = sorted((paired_batch / "data").glob("study_0000_*.dcm"))
    s = score_study(files, track=False)
    assert s.method == "biplane" and s.n_clips == 2
    with pytest.raises(ValueError, match="2 studies"):
        score_study(sorted((paired_batch / "data").glob("study_000*_a4c.dcm")), track=False)


def test_compare_on_study_values(paired_batch, tmp_path):
    from echoquant.cohort import compare
    from echoquant.cohort.design import studies_as_rows

    studies = pd.read_csv(paired_batch / "out" / "studies.csv", dtype={"patient_id": str})
    studies = studies[studies["method"] == "biplane"]
    rows = studies_as_rows(pd.concat([studies] * 3, ignore_index=True).assign(
        patient_id=[f"S{i}" for i in range(6)]))
    groups = pd.DataFrame({"subject_id": [f"S{i}" for i in range(6)], "group": ["control"] * 3 + ["treated"] * 3})
    report = compare(rows, groups, n_boot=20, level="study")
    report.write(tmp_path)
    assert "biplane method of disks" in (tmp_path / "report.html").read_text()
    assert report.design["level"] == "study"


def test_compare_cli_picks_up_studies_csv(paired_batch, tmp_path):
    from typer.testing import CliRunner

    from echoquant.cli import app

    studies = pd.read_csv(paired_batch / "out" / "studies.csv", dtype={"patient_id": str})
    subjects = [f"S{i}" for i in range(6)]
    pairs = studies[studies["method"] == "biplane"]
    many = pd.concat([pairs] * 3, ignore_index=True).assign(patient_id=subjects)
    many.to_csv(tmp_path / "studies.csv", index=False)
    results = pd.read_csv(paired_batch / "out" / "results.csv")
    results.to_csv(tmp_path / "results.csv", index=False)
    pd.DataFrame({"subject_id": subjects, "group": ["control"] * 3 + ["treated"] * 3}).to_csv(
        tmp_path / "groups.csv", index=False)
    out = CliRunner().invoke(app, ["compare", str(tmp_path / "results.csv"), "--groups", str(tmp_path / "groups.csv"),
                                   "-o", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    assert "study-level values" in out.output
    assert "biplane method of disks" in (tmp_path / "report" / "report.html").read_text()
