"""Cohort statistics against designs whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from echoquant.cohort import STATS_COLUMNS, CohortInputError, blind_groups, compare
from echoquant.cohort.design import assign_subjects, order_timepoints
from echoquant.cohort.stats import hedges_g, icc_oneway, two_groups


def simulate(seed: int, n: int = 12, effect: float = 5.0, timepoints: tuple[str, ...] = ("baseline",),
             slope: float = 0.0, clips: int = 1, sd: float = 6.0, within_sd: float = 1.0,
             noise_sd: float = 3.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results rows (one per clip) and a groups table. Treated subjects have LVEF
    ``effect`` higher at every timepoint plus ``slope`` per timepoint step."""
    rng = np.random.default_rng(seed)
    rows, groups = [], []
    for g, shift in (("control", 0.0), ("treated", effect)):
        for i in range(n):
            sid = f"{g[0]}{i:02d}"
            groups.append({"subject_id": sid, "group": g})
            subject = 45 + rng.normal(0, sd)
            for k, t in enumerate(timepoints):
                visit = subject + shift + (slope * k if g == "treated" else 0) + (rng.normal(0, noise_sd) if k else 0)
                for c in range(clips):
                    lvef = visit + rng.normal(0, within_sd)
                    rows.append({"path": f"/data/{sid}_{t}_{c}.dcm", "status": "ok", "patient_id": sid,
                                 "timepoint": t, "lvef_pct": lvef, "gls_pct": -lvef / 3 + rng.normal(0, 0.5),
                                 "qc_pass": True, "qc_flags": ""})
    return pd.DataFrame(rows), pd.DataFrame(groups)


def _row(report, analysis: str, endpoint: str = "lvef_pct", timepoint: str | None = None) -> pd.Series:
    s = report.stats
    s = s[(s["analysis"] == analysis) & (s["endpoint"] == endpoint)]
    if timepoint is not None:
        s = s[s["timepoint"] == timepoint]
    assert len(s) == 1, s
    return s.iloc[0]


def test_between_groups_columns_and_values() -> None:
    res, grp = simulate(0, n=200, effect=5.0)
    report = compare(res, grp, n_boot=200)
    assert list(report.stats.columns) == STATS_COLUMNS
    r = _row(report, "between_groups")
    assert r["group"] == "treated" and r["reference"] == "control" and r["n"] == 200 and r["ref_n"] == 200
    assert r["test"] == "welch_t" and r["ci_low"] < 5.0 < r["ci_high"] and abs(r["diff"] - 5.0) < 1.5
    assert r["p_value"] < 1e-6 and r["primary"]
    assert r["hedges_g_ci_low"] < r["hedges_g"] < r["hedges_g_ci_high"]
    # Welch's t equals scipy's; the mean difference is the plain difference of means
    x = report.subjects.query("group == 'treated'")["lvef_pct"]
    y = report.subjects.query("group == 'control'")["lvef_pct"]
    assert r["diff"] == pytest.approx(x.mean() - y.mean())
    assert r["p_holm"] >= r["p_value"]


def test_hedges_g_small_sample_correction() -> None:
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0, 3.0])
    sd = np.std(x, ddof=1)
    assert hedges_g(x, y) == pytest.approx((1 / sd) * (1 - 3 / (4 * 8 - 9)))
    out = two_groups(x, y, n_boot=0)
    assert out["n_per_group_80pct_power"] > 4


def test_ancova_recovers_known_adjusted_effect() -> None:
    """Follow-up = baseline + 4 for treated, exactly plus small noise: ANCOVA says 4."""
    res, grp = simulate(1, n=15, effect=0.0, timepoints=("baseline", "week4"), slope=4.0, noise_sd=0.3,
                        within_sd=0.0)
    report = compare(res, grp, n_boot=0)
    a = _row(report, "ancova", timepoint="week4")
    assert a["primary"] and a["test"] == "ancova"
    assert a["diff"] == pytest.approx(4.0, abs=0.3) and a["ci_low"] < 4.0 < a["ci_high"] and a["p_value"] < 1e-6
    ch = _row(report, "change_from_baseline", timepoint="week4")
    assert ch["diff"] == pytest.approx(4.0, abs=0.3)
    # between-group difference at week 4 is diluted by between-subject spread; ANCOVA's CI is narrower
    b = _row(report, "between_groups", timepoint="week4")
    assert (a["ci_high"] - a["ci_low"]) < (b["ci_high"] - b["ci_low"])


def test_mixed_model_recovers_group_by_time_slope() -> None:
    res, grp = simulate(2, n=20, effect=0.0, timepoints=("baseline", "week4", "week8"), slope=3.0, noise_sd=0.3,
                        within_sd=0.2)
    report = compare(res, grp, n_boot=0)
    mm = report.stats[(report.stats["analysis"] == "mixed_model") & (report.stats["endpoint"] == "lvef_pct")]
    got = dict(zip(mm["timepoint"], mm["diff"]))
    assert got["week4"] == pytest.approx(3.0, abs=0.4) and got["week8"] == pytest.approx(6.0, abs=0.4)
    truth = mm["timepoint"].map({"week4": 3.0, "week8": 6.0})
    assert ((mm["ci_low"] < truth) & (truth < mm["ci_high"])).all() and report.design["timepoints"] == ["baseline", "week4", "week8"]


def test_qc_failures_and_unknown_subjects_are_listed() -> None:
    res, grp = simulate(3, n=5)
    res.loc[0, "qc_pass"] = False
    res.loc[0, "qc_flags"] = "foreshortening"
    res.loc[1, "status"] = "failed"
    extra = res.iloc[[2]].assign(patient_id="X99", path="/data/other.dcm")
    report = compare(pd.concat([res, extra], ignore_index=True), grp, n_boot=0)
    reasons = dict(zip(report.excluded["path"], report.excluded["reason"]))
    assert "foreshortening" in reasons[res.loc[0, "path"]] and "failed" in reasons[res.loc[1, "path"]]
    assert "groups table" in reasons["/data/other.dcm"]
    assert report.design["n_clips_excluded"] == 3 and report.design["n_clips_analysed"] == len(res) - 2


def test_pattern_and_mapping_matching() -> None:
    res, grp = simulate(4, n=4, timepoints=("baseline", "week4"))
    bare = res.drop(columns=["patient_id", "timepoint"])
    by_pattern = assign_subjects(bare, pattern=r"/(?P<subject>[ct]\d+)_(?P<timepoint>\w+?)_\d+\.dcm$")
    assert (by_pattern["subject_id"].to_numpy() == res["patient_id"].to_numpy()).all()
    assert (by_pattern["timepoint"].to_numpy() == res["timepoint"].to_numpy()).all()
    mapping = res[["path", "patient_id", "timepoint"]].rename(columns={"patient_id": "subject_id"})
    by_map = assign_subjects(bare, mapping=mapping)
    assert (by_map["subject_id"].to_numpy() == res["patient_id"].to_numpy()).all()
    with pytest.raises(CohortInputError, match="subject"):
        assign_subjects(bare, pattern=r"(\d+)")


def test_groups_table_errors() -> None:
    res, grp = simulate(5, n=3)
    with pytest.raises(CohortInputError, match="two groups"):
        compare(res, grp.assign(group="control"))
    with pytest.raises(CohortInputError, match="more than once"):
        compare(res, pd.concat([grp, grp.iloc[[0]]]))
    with pytest.raises(CohortInputError, match="missing"):
        compare(res, grp.rename(columns={"group": "arm"}))


def test_timepoint_order_and_blinding() -> None:
    assert order_timepoints(["week10", "week2", "baseline"]) == ["baseline", "week2", "week10"]
    res, grp = simulate(6, n=4)
    coded, key = blind_groups(grp, seed=1)
    assert set(coded["group"]) == {"A", "B"} and set(key["group"]) == {"control", "treated"}
    report = compare(res, coded, n_boot=0)
    assert set(report.stats["group"]) | {report.design["reference"]} == {"A", "B"}


def test_repeatability_icc_matches_variance_components() -> None:
    res, grp = simulate(7, n=60, clips=3, sd=5.0, within_sd=1.0)
    report = compare(res, grp, n_boot=0)
    rep = report.repeatability.set_index("endpoint").loc["lvef_pct"]
    # between-subject variance within groups 25 (+ group shift), within 1: ICC ~ 0.96
    assert 0.93 < rep["icc"] < 0.99 and rep["n_units"] == 120
    assert rep["cv_pct"] == pytest.approx(100 / 47.5, rel=0.25)
    unit = pd.DataFrame({"unit": ["a", "a", "b", "b", "c", "c"], "value": [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]})
    assert icc_oneway(unit)["icc"] == pytest.approx(1.0)


def test_report_files(tmp_path) -> None:
    res, grp = simulate(8, n=6, timepoints=("baseline", "week4"))
    report = compare(res, grp, n_boot=100, curves={p: np.linspace(0, -15, 50) for p in res["path"]})
    written = report.write(tmp_path)
    assert {"stats.csv", "subjects.csv", "excluded.csv", "stats.json", "report.html"} <= {p.name for p in written}
    assert all((tmp_path / "figures" / f"{n}.png").stat().st_size > 0 for n in ("endpoints", "lvef_vs_gls"))
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "http" not in html.replace("http-equiv", "")
    stats = pd.read_csv(tmp_path / "stats.csv")
    assert list(stats.columns) == STATS_COLUMNS
    assert json.loads((tmp_path / "stats.json").read_text())["design"]["reference"] == "control"


def test_compare_cli(tmp_path) -> None:
    from echoquant.cli import app

    res, grp = simulate(9, n=5)
    res.to_csv(tmp_path / "results.csv", index=False)
    grp.to_csv(tmp_path / "groups.csv", index=False)
    out = tmp_path / "cmp"
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "results.csv"), "--groups", str(tmp_path / "groups.csv"),
                                 "-o", str(out), "--blind"])
    assert r.exit_code == 0, r.output
    assert (out / "report.html").is_file() and (out / "unblinding_key.csv").is_file()
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "results.csv"), "--groups", str(tmp_path / "nope.csv"),
                                 "-o", str(out)])
    assert r.exit_code == 2


@pytest.mark.slow
def test_ci_coverage_and_type1_error_over_seeds() -> None:
    """95% CIs cover the true effect in >= 90% of 100 seeds (Welch and ANCOVA); on two
    identical groups the Welch test rejects at close to alpha."""
    cover_welch = cover_ancova = 0
    for seed in range(100):
        # randomised: no group difference at baseline, a true effect of 6 at follow-up
        res, grp = simulate(1000 + seed, n=10, effect=0.0, timepoints=("baseline", "week4"), slope=6.0)
        report = compare(res, grp, n_boot=0, endpoints=["lvef_pct"])
        b = _row(report, "between_groups", timepoint="week4")
        a = _row(report, "ancova", timepoint="week4")
        cover_welch += b["ci_low"] <= 6.0 <= b["ci_high"]
        cover_ancova += a["ci_low"] <= 6.0 <= a["ci_high"]
    assert cover_welch >= 90 and cover_ancova >= 90
    rejections = 0
    n_null = 400
    for seed in range(n_null):
        res, grp = simulate(5000 + seed, n=10, effect=0.0)
        rejections += _row(compare(res, grp, n_boot=0, endpoints=["lvef_pct"]), "between_groups")["p_value"] < 0.05
    assert 0.02 <= rejections / n_null <= 0.08


@pytest.mark.slow
def test_demo_end_to_end(tmp_path) -> None:
    """The README's first command, small: generate, analyse blind, compare, report."""
    from echoquant.demo import run_demo

    report = run_demo(tmp_path / "demo", n_per_group=3, seed=1, workers=2)
    assert report.is_file() and "ancova" in report.read_text()
    results = pd.read_csv(tmp_path / "demo" / "analysis" / "results.csv")
    # a PLAX loop, a SAX loop and an M-mode screen per mouse and timepoint
    assert len(results) == 36 and (results["status"] == "ok").all()
    assert results["mode"].value_counts().to_dict() == {"2d": 24, "mmode": 12}
    # one study per mouse and timepoint, LVEF by the bullet method where both views passed QC
    studies = pd.read_csv(tmp_path / "demo" / "analysis" / "studies.csv")
    # (a PLAX loop that fails QC, e.g. its LVEF interval too wide, leaves single-plane values)
    assert len(studies) == 12 and (studies["method"] == "bullet").sum() >= 6
    bullet = studies[studies["method"] == "bullet"]
    assert bullet[["lvef_pct", "lv_mass_mg", "fac_pct", "fs_pct"]].notna().all().all()
    assert (bullet["fs_source"] == "mmode").all()
    stats = pd.read_csv(tmp_path / "demo" / "report" / "stats.csv")
    assert {"lvef_pct", "fac_pct", "gcs_pct", "lv_mass_mg", "fs_pct", "lvef_teichholz_pct",
            "akinetic_extent_pct"} <= set(stats["endpoint"])
    check = pd.read_csv(tmp_path / "demo" / "report" / "truth_check.csv").set_index("endpoint")
    assert check.loc["lvef_pct", "mae"] < 10 and check.loc["fs_pct", "mae"] < 3 and check.loc["fac_pct", "mae"] < 10
    effects = pd.read_csv(tmp_path / "demo" / "report" / "effect_check.csv").set_index("endpoint")
    assert {"lvef_pct", "fac_pct"} <= set(effects.index)


def test_report_lists_clips_with_their_intervals(tmp_path) -> None:
    res, grp = simulate(9, n=4)
    res = res.assign(lvef_ci_low=res["lvef_pct"] - 7.5, lvef_ci_high=res["lvef_pct"] + 7.5)
    report = compare(res, grp, n_boot=50)
    report.write(tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "Clips with their 95% intervals" in html
    first = res.iloc[0]
    assert f"{first['lvef_ci_low']:.1f} – {first['lvef_ci_high']:.1f}" in html
    assert "<td>control</td>" in html
    # Results without interval columns (older runs) give no such table.
    compare(simulate(9, n=4)[0], grp, n_boot=50).write(tmp_path / "old")
    assert "Clips with their 95% intervals" not in (tmp_path / "old" / "report.html").read_text()
