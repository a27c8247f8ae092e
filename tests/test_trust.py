"""Trustworthy numbers: the LV-view gate, the view classifier, one-cycle loops and the
95 % intervals (issue 16). Shared-data tests skip when ../shared is absent."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from echoquant.quant.cycle import detect_beats
from echoquant.quant.intervals import IntervalModel, interval, level_volumes, lvef_spread, volume_spread
from echoquant.quant.view import GATE, check_lv_view

from .conftest import REPO

CORPUS = REPO.parent / "shared" / "dicom-corpus"
# The multi-frame files of the corpus (MANIFEST.md): none holds a measurable LV.
NOT_MEASURABLE = ("orthanc-tests/Issue16.dcm", "orthanc-tests/Issue164.dcm", "dbdicom-rubomedical/0020.DCM",
                  "pydicom-deid/GREYSCALE_CINE.dcm", "pylibjpeg-data/JPEGLosslessP14SV1_3s_2f_u_08_08.dcm")
_GOOD = {"frames_with_lv": 1.0, "doppler_fraction": 0.0, "confidence": 0.96, "area_fraction": 0.15,
         "myocardium_cover": 1.0, "sector_edge": 0.0, "elongation": 2.1, "axis_deg": 5.0}


@pytest.fixture(scope="module")
def analyzer():
    from echoquant.api import Analyzer

    return Analyzer(device="cpu")


# ------------------------------------------------------------------------ the gate

def test_gate_passes_a_plausible_lv_and_names_each_failure():
    assert check_lv_view(_GOOD, "human", None).measurable
    cases = {
        "confidence": (0.85, "unsure"), "myocardium_cover": (0.5, "myocardium"), "elongation": (1.05, "round"),
        "area_fraction": (0.7, "fills"), "sector_edge": (0.6, "sector edge"), "axis_deg": (70.0, "apical"),
        "doppler_fraction": (0.4, "Doppler"), "frames_with_lv": (0.3, "only"),
    }
    for key, (bad, words) in cases.items():
        check = check_lv_view({**_GOOD, key: bad}, "human", None)
        assert not check.measurable, key
        assert words in check.reason and check.flag().startswith("no_lv_view: "), (key, check.reason)


def test_gate_lets_rodent_long_axis_lie_sideways_but_not_human_parasternal():
    sideways = {**_GOOD, "axis_deg": 80.0}
    assert check_lv_view(sideways, "rodent", "PLAX").measurable
    assert not check_lv_view(sideways, "human", None).measurable
    header = check_lv_view(_GOOD, "human", "PLAX")
    assert not header.measurable and "PLAX" in header.reason
    assert check_lv_view(_GOOD, "human", "A4C").measurable


def test_gate_thresholds_are_ordered():
    lo, hi = GATE["area_fraction"]
    assert 0 < lo < hi < 1 and 0 < GATE["min_confidence"] < 1 and GATE["min_elongation"] > 1


def test_a_sector_of_plain_speckle_gives_no_numbers(analyzer):
    from echoquant.synth.generate import generate_case, sample_params
    from echoquant.io.cine import EchoCine

    case = generate_case(sample_params("human", 5))
    rng = np.random.default_rng(0)
    frames = np.zeros_like(case.grey)
    speckle = rng.gamma(1.5, 40, size=frames.shape)
    frames[:, case.sector] = np.clip(speckle[:, case.sector] + 20, 0, 255).astype(np.uint8)
    cine = EchoCine(frames, case.fps, np.arange(len(frames)) * 1000 / case.fps, (case.params.spacing_mm,) * 2,
                    None, case.sector)
    r = analyzer.score(cine)
    assert r.lvef_pct is None and r.gls_pct is None and r.edv_ml is None and r.quant.beats == []
    assert not r.qc_pass and any(f.startswith("no_lv_view") for f in r.qc_flags)
    assert r.quant.summary["lvef_ci_low"] is None


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/dicom-corpus is absent")
@pytest.mark.parametrize("name", NOT_MEASURABLE)
def test_corpus_loops_without_a_measurable_lv_give_no_numbers(analyzer, name):
    r = analyzer.score(CORPUS / name)
    assert r.lvef_pct is None and r.gls_pct is None and r.edv_ml is None and r.esv_ml is None
    assert not r.qc_pass
    assert any(f.startswith("no_lv_view: ") for f in r.qc_flags), r.qc_flags
    row = r.to_dict()
    assert row["summary"]["view"] is None and row["qc_pass"] is False


# --------------------------------------------------------------- views on real loops

def test_real_apical_loops_are_recognised_as_four_chamber(analyzer, ybr_color_path, a4c_loop_path):
    for path in (ybr_color_path, a4c_loop_path):
        r = analyzer.score(path, track=False)
        s = r.quant.summary
        assert s["view"] == "A4C" and s["view_source"] == "image" and s["view_probability"] > 0.9, path
        assert r.quant.segment_names[0] == "basal inferoseptal"
        assert not any(f.startswith(("no_lv_view", "segments_unnamed")) for f in r.qc_flags)


def test_header_view_wins_over_the_classifier(analyzer, ybr_color_path):
    from echoquant.io import read_cine

    cine = read_cine(ybr_color_path)
    cine = replace(cine, meta=replace(cine.meta, view="A2C"))
    s = analyzer.score(cine, track=False).quant.summary
    assert s["view"] == "A2C" and s["view_source"] == "header" and s["view_probability"] is None


def test_views_from_headers_only_when_asked(ybr_color_path):
    from echoquant.api import Analyzer

    r = Analyzer(device="cpu", find_views=False).score(ybr_color_path, track=False)
    assert r.quant.summary["view"] is None and any(f.startswith("segments_unnamed") for f in r.qc_flags)
    assert r.lvef_pct is not None


def test_view_classifier_refuses_tampered_weights(tmp_path):
    import shutil

    from echoquant.errors import ChecksumError
    from echoquant.segment.views import ViewClassifier, default_view_model_dir

    shutil.copytree(default_view_model_dir(), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    meta["sha256"] = "0" * 64
    (tmp_path / "m" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ChecksumError):
        ViewClassifier(tmp_path / "m")


def test_view_input_checks_shapes():
    from echoquant.segment.views import view_input

    with pytest.raises(ValueError, match="frames and labels"):
        view_input(np.zeros((2, 10, 10), np.uint8), np.zeros((1, 10, 10), np.uint8), np.ones((10, 10), bool))
    x = view_input(np.zeros((2, 50, 60), np.uint8), np.zeros((2, 50, 60), np.uint8), np.ones((50, 60), bool))
    assert x.shape == (2, 4, 64, 64) and x.dtype == np.float32


# ------------------------------------------------------------------ one-cycle loops

def _one_cycle(preset: str, seed: int, end: str = "ed"):
    """A generated loop holding exactly one cycle from ED on frame 0: to the next ED
    (``end="ed"``) or to ES on the last frame (``end="es"``)."""
    from echoquant.synth.generate import sample_params

    p0 = sample_params(preset, seed)
    frames_per_beat = 60.0 / p0.heart_rate_bpm * p0.fps
    if end == "ed":
        n_beats = 1.0 + 0.5 / frames_per_beat
    else:
        # The generator puts ES on frame ceil(es_phase * frames_per_beat): one frame more.
        n_beats = (np.ceil(p0.es_phase * frames_per_beat - 1e-9) + 0.7) / frames_per_beat
    return sample_params(preset, seed, n_beats=n_beats, start_phase=0.0, rr_jitter=0.0)


@pytest.mark.parametrize("preset,seed", [("rodent", 900001), ("rodent", 900002), ("human", 900003),
                                         ("human", 900004)])
def test_one_cycle_volume_curves_give_one_beat(preset, seed):
    from echoquant.synth.generate import generate_case

    for end in ("ed", "es"):
        case = generate_case(_one_cycle(preset, seed, end))
        v, t = case.curves["volume_ml"], case.truth
        beats, _ = detect_beats(v, case.fps, None)
        assert len(beats) == 1, (preset, seed, end, np.round(v / v.max(), 3))
        b = beats[0]
        assert b.ed == 0 and t["ed_frame"] == 0
        assert abs(b.es - t["es_frame"]) <= max(1, round(0.03 * case.fps * 60 / case.params.heart_rate_bpm))
        if end == "es":
            assert b.es == len(v) - 1 and b.next_ed is None


def test_a_loop_starting_mid_ejection_has_no_ed_on_frame_zero():
    """The edge rule still refuses a loop that merely starts on a slope."""
    n = 60
    phase = 2 * np.pi * (np.arange(n) / 30 + 0.15)  # first frame on the falling slope
    v = 100 + 30 * np.cos(phase)
    beats, _ = detect_beats(v, 30.0, 60.0)
    assert beats and all(b.ed != 0 for b in beats)


def test_one_cycle_rodent_loop_end_to_end(analyzer, tmp_path):
    from echoquant.synth.generate import generate_case
    from echoquant.synth.write import write_case

    case = generate_case(_one_cycle("rodent", 900002))
    write_case(case, tmp_path, "one")
    r = analyzer.score(tmp_path / "one.dcm")
    assert len(r.quant.beats) == 1 and r.ed_frames == [0]
    assert abs(r.lvef_pct - case.truth["lvef_pct"]) < 7.0
    assert r.qc_pass, r.qc_flags


# ------------------------------------------------------------------------ intervals

def test_level_volumes_scale_with_area_to_the_power_one_and_a_half():
    v = level_volumes(100.0, np.array([81.0, 100.0, 121.0]))
    assert np.allclose(v, [72.9, 100.0, 133.1])
    assert level_volumes(100.0, None) is None and level_volumes(100.0, np.array([1.0, 0.0, 2.0])) is None
    assert volume_spread(100.0, np.array([81.0, 100.0, 121.0])) == pytest.approx(0.331)


def test_lvef_spread_of_a_border_that_does_not_move_is_zero():
    same = np.array([100.0, 100.0, 100.0])
    assert lvef_spread(120.0, 50.0, same, same) == pytest.approx(0.0)
    # The same relative border move at ED and ES leaves LVEF unchanged...
    grow = np.array([90.0, 100.0, 110.0])
    assert lvef_spread(120.0, 50.0, grow, grow) == pytest.approx(0.0, abs=1e-9)
    # ...a move at ES only changes it by the ESV's change.
    es_only = lvef_spread(120.0, 50.0, same, np.array([100.0, 100.0, 121.0]))
    assert es_only == pytest.approx(100 * 50 * (1.331 - 1) / 120, rel=1e-6)


def test_interval_combines_beats_spread_and_floor():
    m = IntervalModel(k=2.0, floor=3.0)
    lo, hi = interval(60.0, [60.0], [0.0], m)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * 3.0)
    lo, hi = interval(60.0, [58.0, 62.0], [1.0, 1.0], m)
    se = np.std([58.0, 62.0], ddof=1) / np.sqrt(2)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * np.sqrt(se**2 + 2.0**2 + 9.0))
    assert interval(None, [], [], m) == (None, None)
    assert interval(99.0, [99.0], [0.0], m, (0.0, 100.0))[1] == 100.0
    rel = interval(200.0, [200.0], [0.1], IntervalModel(k=1.0, floor=0.0, relative=True))
    assert rel == pytest.approx((200 - 1.959964 * 20, 200 + 1.959964 * 20))


def test_every_reported_value_has_its_interval(analyzer, tmp_path):
    from echoquant.export.tables import RESULT_COLUMNS, result_row
    from echoquant.synth.write import write_suite

    write_suite(tmp_path, 1, seed=910003, preset="human")
    r = analyzer.score(next(tmp_path.glob("*.dcm")))
    row = result_row(r)
    for name, value in (("lvef", "lvef_pct"), ("gls", "gls_pct"), ("edv", "edv_ml"), ("esv", "esv_ml")):
        lo, hi = f"{name}_ci_low", f"{name}_ci_high"
        assert lo in RESULT_COLUMNS and hi in RESULT_COLUMNS
        if row[value] is None:
            assert row[lo] is None and row[hi] is None
        else:
            assert row[lo] < row[value] < row[hi], name
    d = r.to_dict()
    assert d["summary"]["lvef_ci_low"] == row["lvef_ci_low"] or abs(d["summary"]["lvef_ci_low"] - row["lvef_ci_low"]) < 1e-4
    assert r.lvef_ci == (r.quant.summary["lvef_ci_low"], r.quant.summary["lvef_ci_high"])


def test_echonet_style_video_keeps_lvef_and_withholds_volumes(analyzer, tmp_path):
    """A 112 x 112 AVI without calibration (as EchoNet-Dynamic ships them) passes the gate:
    LVEF reported, volumes withheld, no no_lv_view flag."""
    import cv2

    from echoquant.synth.generate import generate_case, sample_params

    from .test_io_video_scan import _write_avi

    case = generate_case(sample_params("human_a4c", 910011, pathology="normal", n_beats=2.2, fps=50.0))
    grey = case.grey
    rows, cols = np.nonzero(case.sector)
    square = grey[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    small = np.stack([cv2.resize(f, (112, 112), interpolation=cv2.INTER_AREA) for f in square])
    r = analyzer.score(_write_avi(tmp_path / "0XABCD.avi", small, fps=50))
    assert not any(f.startswith("no_lv_view") for f in r.qc_flags), r.qc_flags
    assert r.lvef_pct is not None and abs(r.lvef_pct - case.truth["lvef_pct"]) < 12
    assert r.edv_ml is None and r.esv_ml is None and r.edv_ci == (None, None)
    assert r.lvef_ci[0] < r.lvef_pct < r.lvef_ci[1]
