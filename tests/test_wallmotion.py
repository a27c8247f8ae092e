"""Regional wall motion against known deformations and the generator's exact truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from echoquant.cohort import compare
from echoquant.cohort.aggregate import endpoints_in
from echoquant.cohort.report import figures
from echoquant.io.cine import CineMeta, EchoCine
from echoquant.quant import quantify
from echoquant.quant.contour import N_PER_SIDE
from echoquant.quant.strain import SEGMENT_SLICES
from echoquant.quant.wallmotion import (NOT_ASSESSABLE, NORMAL_REFERENCE, WALL_MOTION_SCORES, excursion_pct,
                                        kinesis_index, segment_wall_motion, summarise_wall_motion, wall_motion_class)
from echoquant.segment.result import Segmentation
from echoquant.synth import generate_case
from echoquant.synth.infarct import infarct_params
from echoquant.synth.wallmotion import screen_order
from echoquant.synth.write import _kinesis_at

NAMES = tuple(f"s{k}" for k in range(6))


def lv_contour(length: float = 80.0, half: float = 25.0, n: int = N_PER_SIDE) -> np.ndarray:
    """Apex-up half-ellipse contour ``(x, y)``: left hinge -> apex -> right hinge, apex
    at (0, 0), base at y = length (image y grows downwards)."""
    theta = np.linspace(0.0, np.pi / 2, n + 1)
    left = np.stack([-half * np.cos(theta), length * (1 - np.sin(theta))], axis=1)
    right = left[::-1][1:] * np.array([-1.0, 1.0])
    return np.concatenate([left, right])


def squeeze(points: np.ndarray, factor_left: float, factor_right: float) -> np.ndarray:
    """Every point moved toward the centre line x = 0 by its side's factor (0.3 = 30 %)."""
    out = points.copy()
    left = out[:, 0] < 0
    out[left, 0] *= 1 - factor_left
    out[~left, 0] *= 1 - factor_right
    return out


def squeeze_segments(points: np.ndarray, factors: list[float]) -> np.ndarray:
    """Each segment's points moved toward the centre line by its own factor."""
    out = points.copy()
    for s, f in zip(SEGMENT_SLICES, factors):
        out[s, 0] = points[s, 0] * (1 - f)
    return out


def rigid(points: np.ndarray, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return points @ rot.T + np.asarray(shift)


def test_contour_helper_runs_hinge_apex_hinge() -> None:
    c = lv_contour()
    assert c.shape == (2 * N_PER_SIDE + 1, 2)
    assert np.allclose(c[N_PER_SIDE], [0.0, 0.0]) and c[0, 0] < 0 < c[-1, 0]
    assert c[0, 1] == pytest.approx(80.0) and c[-1, 1] == pytest.approx(80.0)


def test_excursion_of_a_known_inward_motion() -> None:
    ed = lv_contour()
    assert np.allclose(excursion_pct(ed, squeeze(ed, 0.30, 0.30)), 30.0, atol=1e-6)
    # an akinetic apex (an LAD infarct) beside normal mid and basal walls
    exc = excursion_pct(ed, squeeze_segments(ed, [0.3, 0.3, 0.0, 0.0, 0.3, 0.3]))
    assert np.allclose(exc[[0, 1, 4, 5]], 30.0, atol=1.5) and np.allclose(exc[[2, 3]], 0.0, atol=3.5)
    # a whole wall akinetic beside a normal one: part of the difference is read as the
    # heart turning (the limit of any rotation correction from one contour pair, see
    # excursion_pct), most at the base; each level keeps its order
    exc = excursion_pct(ed, squeeze(ed, 0.30, 0.0))
    assert np.all(exc[:3] > 15.0) and np.all(exc[3:] < 15.0) and np.all(exc[:3] > exc[3:][::-1])
    assert np.all(exc[1:3] - exc[3:5][::-1] > 12.0)


def test_excursion_ignores_translation_and_rotation_of_the_heart() -> None:
    ed = lv_contour()
    es = squeeze(ed, 0.25, 0.25)
    moved = rigid(es, 12.0, (7.0, -4.0))
    assert np.allclose(excursion_pct(rigid(ed, -5.0, (3.0, 2.0)), rigid(moved, -5.0, (3.0, 2.0))),
                       excursion_pct(ed, es), atol=1e-6)
    assert np.allclose(excursion_pct(ed, moved), 25.0, atol=1e-6)


def test_kinesis_index_and_classes_follow_the_stated_cut_points() -> None:
    ref = NORMAL_REFERENCE
    index, parts = kinesis_index(ref["strain_pct"], ref["excursion_pct"], 0.0)
    assert index == pytest.approx(1.0) and len(parts) == 2  # thickening does not vote beside the two
    index, parts = kinesis_index(None, 0.5 * ref["excursion_pct"], 0.5 * ref["thickening_pct"])
    assert index == pytest.approx(0.5) and len(parts) == 2  # it stands in for missing strain
    assert kinesis_index(None, None, None) == (None, [])
    assert kinesis_index(10 * ref["strain_pct"], ref["excursion_pct"])[0] == pytest.approx(1.25)  # clipped at 1.5
    for value, cls in ((0.6, "normal"), (0.59, "hypokinetic"), (0.2, "hypokinetic"), (0.19, "akinetic"),
                       (-0.1, "akinetic"), (-0.11, "dyskinetic"), (None, NOT_ASSESSABLE)):
        assert wall_motion_class(value) == cls


def test_segment_classes_wmsi_and_extent_of_a_known_deformation() -> None:
    ed = lv_contour()
    es = squeeze_segments(ed, [0.35, 0.35, 0.0, 0.0, 0.12, 0.35])  # akinetic apex, hypokinetic mid right
    strain = [-20.0, -20.0, 0.0, 0.0, -7.0, -20.0]
    wm = segment_wall_motion(ed, es, NAMES, strain_pct=strain, spacing_mm=(0.5, 0.5))
    assert [s.wall_motion for s in wm.segments] == ["normal", "normal", "akinetic", "akinetic", "hypokinetic",
                                                      "normal"]
    assert wm.wmsi == pytest.approx((1 + 1 + 3 + 3 + 2 + 1) / 6)
    lengths = [s.ed_length for s in wm.segments]
    assert wm.akinetic_extent_pct == pytest.approx(100 * (lengths[2] + lengths[3]) / sum(lengths))
    # outward motion with lengthening is dyskinetic
    es = squeeze_segments(ed, [0.35, 0.35, -0.1, -0.1, 0.35, 0.35])
    wm = segment_wall_motion(ed, es, NAMES, strain_pct=[-20.0, -20.0, 5.0, 5.0, -20.0, -20.0])
    assert [s.wall_motion for s in wm.segments] == ["normal", "normal", "dyskinetic", "dyskinetic", "normal",
                                                      "normal"]


def test_segments_are_not_assessable_rather_than_guessed() -> None:
    ed = lv_contour()
    es = squeeze(ed, 0.35, 0.35)
    at_edge = np.zeros(len(ed), bool)
    at_edge[SEGMENT_SLICES[0]] = True
    strain = [-20.0, 15.0, -20.0, -20.0, None, -20.0]  # s1: lengthens while moving inward normally
    wm = segment_wall_motion(ed, es, NAMES, strain_pct=strain, at_edge=at_edge)
    reasons = [s.reason or "" for s in wm.segments]
    assert "edge" in reasons[0] and "disagree" in reasons[1] and "fewer than two" in reasons[4]
    assert [s.wall_motion for s in wm.segments] == [NOT_ASSESSABLE] * 2 + ["normal"] * 2 + [NOT_ASSESSABLE, "normal"]
    assert wm.wmsi == pytest.approx(1.0) and len(wm.assessable) == 3


def test_summary_over_beats_takes_the_median() -> None:
    ed = lv_contour()
    beats = [segment_wall_motion(ed, squeeze(ed, f, f), NAMES, strain_pct=[s] * 6)
             for f, s in ((0.35, -20.0), (0.05, -2.0), (0.33, -19.0))]
    wm = summarise_wall_motion(beats)
    assert all(s.wall_motion == "normal" for s in wm.segments)
    assert summarise_wall_motion([]).segments == []


@pytest.mark.parametrize("preset", ["human", "rodent"])
def test_generated_infarct_true_masks_match_the_exact_truth(preset: str) -> None:
    params = infarct_params(preset, 424_242, n_segments=2, dyskinetic=False)
    case = generate_case(params)
    truth = case.truth["wall_motion"]
    true_classes = [s["wall_motion"] for s in truth["segments"]]
    assert true_classes.count("akinetic") + true_classes.count("dyskinetic") >= 2
    p = case.params
    cine = EchoCine(frames=case.grey, fps=p.fps, frame_times_ms=case.curves["times_ms"],
                    spacing_mm=(p.spacing_mm, p.spacing_mm), heart_rate_bpm=p.heart_rate_bpm, fan_mask=case.sector,
                    meta=CineMeta(view=p.view))
    s = quantify(cine, Segmentation(case.labels, model="truth")).summary
    measured = [m["wall_motion"] for m in s["wall_motion"]]
    assert sum(a == b for a, b in zip(measured, true_classes)) >= 5, (measured, true_classes)
    assert s["akinetic_extent_pct"] == pytest.approx(truth["akinetic_extent_pct"], abs=17.0)
    assert s["thinnest_wall_ed_mm"] == pytest.approx(truth["thinnest_wall_ed_mm"], rel=0.25)
    assert 1.0 <= s["wmsi"] <= 4.0


def test_infarct_free_heart_scores_normal() -> None:
    case = generate_case(infarct_params("human", 424_243, infarct=False))
    truth = case.truth["wall_motion"]
    assert truth["akinetic_extent_pct"] == 0.0 and truth["wmsi"] == 1.0


def test_infarct_params_place_scar_and_keep_remote_motion() -> None:
    p = infarct_params("rodent", 7, n_segments=3, dyskinetic=True)
    k = np.asarray(p.kinesis)
    scar = np.asarray(p.shape["thin_segments"])
    assert len(scar) == 3 and np.all(np.diff(scar) == 1) and np.all(k[scar] < -0.2)
    assert p.pathology == "infarct" and infarct_params("rodent", 7, infarct=False).pathology == "normal"
    with pytest.raises(ValueError, match="n_segments"):
        infarct_params("rodent", 7, n_segments=4)


def test_screen_order_of_a_mirrored_contour() -> None:
    c = lv_contour()
    assert screen_order(c) and not screen_order(c[::-1])


def test_follow_up_kinesis_moves_only_abnormal_segments() -> None:
    assert _kinesis_at((1.0, 0.05, -0.2, 1.0, 0.9, 0.4), 0.45, 1.0) == pytest.approx((1.0, 0.5, 0.25, 1.0, 0.9, 0.85))
    assert _kinesis_at((1.0, 0.9), 0.45, 1.0) == (1.0, 0.9)


def test_wall_motion_endpoints_reach_the_cohort_report() -> None:
    rng = np.random.default_rng(3)
    rows, groups = [], []
    for g, extent in (("control", 35.0), ("treated", 15.0)):
        for i in range(8):
            sid = f"{g[0]}{i}"
            groups.append({"subject_id": sid, "group": g})
            e = extent + rng.normal(0, 4)
            classes = ";".join(["normal"] * 4 + ["akinetic"] * 2 if e > 25 else ["normal"] * 5 + ["hypokinetic"])
            rows.append({"path": f"{sid}.dcm", "status": "ok", "patient_id": sid, "timepoint": "week4",
                         "lvef_pct": 40 + rng.normal(0, 3), "akinetic_extent_pct": e, "wmsi": 1 + e / 50,
                         "qc_pass": True, "qc_flags": "", "wall_motion_classes": classes})
    res, grp = pd.DataFrame(rows), pd.DataFrame(groups)
    assert {"akinetic_extent_pct", "wmsi"} <= set(endpoints_in(res))
    report = compare(res, grp, n_boot=0)
    row = report.stats[(report.stats["endpoint"] == "akinetic_extent_pct")
                       & (report.stats["analysis"] == "between_groups")].iloc[0]
    assert row["diff"] < -10 and row["p_value"] < 0.01
    assert "wall_motion_by_segment" in figures(report)


def test_scores_are_the_ase_scale() -> None:
    assert WALL_MOTION_SCORES == {"normal": 1, "hypokinetic": 2, "akinetic": 3, "dyskinetic": 4}


def test_overlay_colours_segments_by_class(tmp_path) -> None:
    from echoquant.export.overlays import WALL_MOTION_COLORS, draw_segments, write_contour_gif

    frame = np.zeros((120, 100), np.uint8)
    pts = lv_contour(80.0, 25.0) + np.array([50.0, 20.0])
    classes = ["normal", "normal", "akinetic", "dyskinetic", "hypokinetic", "not_assessable"]
    img = draw_segments(frame, pts, classes, "ED")
    for k, cls in enumerate(classes):
        mid = np.round(pts[SEGMENT_SLICES[k]][len(pts[SEGMENT_SLICES[k]]) // 2]).astype(int)
        patch = img[mid[1] - 1: mid[1] + 2, mid[0] - 1: mid[0] + 2].reshape(-1, 3)
        assert any(np.abs(p.astype(int) - WALL_MOTION_COLORS[cls]).max() < 60 for p in patch), cls
    cine = EchoCine(frames=np.repeat(frame[None], 3, axis=0), fps=30.0, frame_times_ms=None, spacing_mm=None,
                    heart_rate_bpm=None, fan_mask=np.ones((120, 100), bool))
    path = write_contour_gif(tmp_path / "x.gif", cine, [pts] * 3, [0], [2], segment_classes=classes)
    assert path.stat().st_size > 0


def test_plax_segments_are_named_in_screen_order() -> None:
    from echoquant.quant.pipeline import segment_names_for

    assert segment_names_for("PLAX")[0] == "basal inferolateral"
    assert segment_names_for("PLAX")[-1] == "basal anteroseptal"
