"""Rodent parasternal views (issue 32): generator (PLAX, SAX), view recognition, SAX
measurement, acquisition side tables, TIFF loops, the real-still evaluation, and the
interval-width QC with the cohort's refusal of meaningless effects."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from echoquant.flags import has_flag
from echoquant.io import read_cine
from echoquant.io.acquisition import AcquisitionTable, AcquisitionTableError
from echoquant.quant.view import recognise_view
from echoquant.synth import generate_case, sample_params, write_case
from echoquant.synth.generate import frame_schedule
from echoquant.synth.sax import SaxMotion, polygon_area, sax_truth
from echoquant.synth.scene import Tissue

from .test_io_video_scan import _write_avi

RODENT_REAL = Path(__file__).resolve().parents[2] / "shared" / "rodent-real"


def _ed_case(preset: str, seed: int, view: str):
    p = sample_params(preset, seed, view=view, overlays=False)
    _, ed, _ = frame_schedule(p)
    return generate_case(p, only_frames=[int(ed[0])]), int(ed[0])


# ------------------------------------------------------------------ generator


def test_sax_map_gives_the_analytic_fac_of_a_circle():
    """A circular section contracting its radius by c has FAC = 1 - (1 - c)^2 exactly, and
    the wall keeps its area up to the longitudinal gain 1 / (1 - s)."""
    c, s = 0.3, 0.12
    sax = SaxMotion(radius_mm=2.0, ellipticity=0.0, ellipse_angle=0.0, wall_mm=(0.8,) * 6, kinesis=(1.0,) * 6,
                    contraction=c, shortening=s, twist_rad=0.05, decay_mm=1.5)
    truth, _ = sax_truth(sax, np.array([0.0, 1.0]), np.array([0]), np.array([1]))
    assert truth["fac_pct"] == pytest.approx(100 * (1 - (1 - c) ** 2), abs=1e-6)
    endo0, epi0 = sax.contours(0.0, 720)
    endo1, epi1 = sax.contours(1.0, 720)
    wall0 = polygon_area(epi0) - polygon_area(endo0)
    wall1 = polygon_area(epi1) - polygon_area(endo1)
    assert wall1 == pytest.approx(wall0 / (1 - s), rel=1e-3)
    assert truth["grs_pct"] > 0 and truth["gcs_pct"] == pytest.approx(-100 * c, abs=0.05)


def test_akinetic_sax_segment_does_not_shorten_or_thicken():
    """An akinetic anterior segment does not shorten (its neighbours stretch it a little,
    as an infarct is stretched in systole) and thickens far less than a normal one."""
    k = (0.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    sax = SaxMotion(2.0, 0.0, 0.0, (0.8,) * 6, k, 0.3, 0.1, 0.0, 1.5)
    truth, _ = sax_truth(sax, np.array([0.0, 1.0]), np.array([0]), np.array([1]))
    strain, thick = truth["segment_circumferential_strain_pct"], truth["segment_thickening_pct"]
    assert strain["anterior"] > 0.0 and strain["inferior"] < -20.0
    assert thick["anterior"] < 0.5 * thick["inferior"]


@pytest.mark.parametrize("preset,view", [("mouse", "PLAX"), ("rat", "SAX")])
def test_parasternal_scene_looks_like_a_vevo_frame(preset, view):
    """A rectangular window from 1-3 mm down, filled with tissue (no black field), the
    cavity darker than the band around it but not black (blood speckle)."""
    case, ed = _ed_case(preset, 3210, view)
    p = case.params
    assert p.probe["kind"] == "linear" and p.probe["window_top_mm"] >= 1.0
    img, lab = case.grey[ed], case.labels[ed]
    rows, cols = np.nonzero(case.sector)
    assert case.sector[rows.min():rows.max() + 1, cols.min():cols.max() + 1].mean() > 0.99  # rectangle
    from scipy.ndimage import binary_dilation

    cav = lab == 1
    band = binary_dilation(cav, iterations=6) & ~binary_dilation(cav, iterations=2) & case.sector
    ratio = np.median(img[cav]) / np.median(img[band])
    assert 0.15 < ratio < 0.85
    assert np.median(img[case.sector]) > 30  # tissue everywhere, not a black background
    assert (lab == 3).any() == (view == "PLAX")  # LA behind the aortic root in PLAX only


def test_rodent_plax_scene_has_its_structures():
    from echoquant.synth.heart import LVShape, solve_motion, Kinesis
    from echoquant.synth.rodent import plax_tissue, sample_look
    from echoquant.synth.scene import Placement

    shape = LVShape(a_mm=4.8, b_mm=1.9, truncation=0.45, wall_septal_mm=0.8, wall_lateral_mm=0.8, wall_apex_mm=0.6)
    motion = solve_motion(shape, Kinesis(), 60.0, -18.0)
    pl = Placement(-3.5, 7.5, -100.0, True)
    rng = np.random.default_rng(0)
    x, z = rng.uniform(-6, 6, 60000), rng.uniform(1.5, 13, 60000)
    u, v = pl.to_local(x, z)
    labels, gain, _ = plax_tissue(u, v, x, z, motion, pl, sample_look(rng, shape.length_mm), rng)
    present = set(np.unique(labels).tolist())
    for t in (Tissue.LV_BLOOD, Tissue.LV_MYO, Tissue.RV_BLOOD, Tissue.AORTA_BLOOD, Tissue.LA_BLOOD,
              Tissue.CHEST_WALL, Tissue.FASCIA, Tissue.PERICARDIUM):
        assert t in present, t
    # The chest wall lies in front of (above) the heart.
    assert np.median(z[labels == Tissue.CHEST_WALL]) < np.median(z[labels == Tissue.LV_BLOOD])
    assert gain.max() > 1.5 and np.median(gain) == 1.0  # specular walls, not everything


# ------------------------------------------------------------------ views


@pytest.mark.parametrize("preset,view", [("mouse", "PLAX"), ("rat", "PLAX"), ("mouse", "SAX"), ("rat", "SAX"),
                                         ("mouse", "A4C")])
def test_view_recognised_from_true_masks(preset, view):
    case, ed = _ed_case(preset, 4321, view)
    lab = case.labels[ed]
    found, feats = recognise_view(lab == 1, lab == 3, np.array([0.0, 1.0]))
    assert found == view, feats


def test_header_names_parasternal_views(tmp_path):
    from pydicom import dcmread

    from echoquant.io.header import coded_view

    case, _ = _ed_case("mouse", 77, "SAX")
    write_case(case, tmp_path, "sax")
    ds = dcmread(tmp_path / "sax.dcm")
    assert coded_view(ds) == "SAX"
    del ds.ViewCodeSequence
    ds.SeriesDescription = "PLAX B-Mode"
    assert coded_view(ds) == "PLAX"
    ds.SeriesDescription = "LV mid papillary"
    assert coded_view(ds) is None


# ------------------------------------------------------------------ end to end (shipped model)


@pytest.fixture(scope="module")
def analyzer():
    from echoquant.api import Analyzer

    return Analyzer(device="cpu", track=False)


def _score_without_header_view(analyzer, path: Path):
    cine = read_cine(path, require_loop=True)
    return analyzer.score(replace(cine, meta=replace(cine.meta, view=None)))


def test_rodent_plax_loop_scored_end_to_end(tmp_path, analyzer):
    case = generate_case(sample_params("mouse", 5_101_003, view="PLAX", pathology="normal", n_beats=2.2))
    write_case(case, tmp_path, "plax", compression="jpeg")
    res = _score_without_header_view(analyzer, tmp_path / "plax.dcm")
    s = res.quant.summary
    assert s["view"] == "PLAX" and s["view_source"] == "image"
    assert s["species"] == "mouse" and s["species_source"] == "header"  # PatientSpeciesDescription
    assert res.lvef_pct == pytest.approx(case.truth["lvef_pct"], abs=8.0)
    assert s.get("fac_pct") is None


def test_rodent_sax_loop_scored_end_to_end(tmp_path, analyzer):
    case = generate_case(sample_params("mouse", 5_101_007, view="SAX", pathology="normal", n_beats=2.2))
    write_case(case, tmp_path, "sax", compression="jpeg")
    res = _score_without_header_view(analyzer, tmp_path / "sax.dcm")
    s = res.quant.summary
    assert s["view"] == "SAX"
    assert s["fac_pct"] == pytest.approx(case.truth["fac_pct"], abs=8.0)
    assert s["eda_mm2"] == pytest.approx(case.truth["eda_mm2"], rel=0.15)
    # Long-axis quantities do not apply to a short axis: empty, never computed.
    assert res.lvef_pct is None and s["edv_ml"] is None and s["gls_pct"] is None
    assert res.qc_pass
    from echoquant.export.tables import result_row

    row = result_row(res)
    assert row["fac_pct"] is not None and row["lvef_pct"] is None and row["view"] == "SAX"



def test_tracking_brings_sax_fac_nearer_the_truth(tmp_path):
    """With tracking on (the default), a normal mouse short axis whose ES cavity the network
    draws too large takes its FAC from the tracked ED border, nearer the truth."""
    from echoquant.api import Analyzer

    case = generate_case(sample_params("mouse", 5_101_007, view="SAX", pathology="normal", n_beats=2.2))
    write_case(case, tmp_path, "sax", compression="jpeg")
    s = _score_without_header_view(Analyzer(device="cpu", track=True), tmp_path / "sax.dcm").quant.summary
    truth = case.truth["fac_pct"]
    assert s["fac_source"] in ("tracking", "mixed")
    assert s["fac_pct"] > s["fac_seg_pct"] and abs(s["fac_pct"] - truth) < abs(s["fac_seg_pct"] - truth)
    assert s["fac_pct"] == pytest.approx(truth, abs=6.5)
    assert s["esa_mm2"] == pytest.approx(s["eda_mm2"] * (1 - s["fac_pct"] / 100), rel=0.05)

# ------------------------------------------------------------------ side tables, TIFF


def _mouse_avi(tmp_path: Path) -> tuple[Path, object]:
    case = generate_case(sample_params("mouse", 5_101_011, view="PLAX", pathology="normal", n_beats=2.2,
                                       overlays=False, fps=200.0))
    return _write_avi(tmp_path / "m01_plax.avi", case.grey, fps=200), case


def test_uncalibrated_avi_with_a_side_table_gives_microlitres(tmp_path, analyzer):
    from echoquant.export.tables import result_row

    avi, case = _mouse_avi(tmp_path)
    bare = result_row(analyzer.score(read_cine(avi, require_loop=True)))
    assert bare["species"] == "mouse" and bare["species_source"] == "inferred"  # from the heart rate
    # no calibration, no header species: 200 frames/s alone sends it to the rodent weights
    assert bare["weights"] == "echoquant_lv_unet_rodent" and bare["model"] == "echoquant_lv_unet"
    assert bare["edv_ml"] is None and bare.get("edv_ul") is None and bare["calibration_source"] is None
    table = tmp_path / "acq.csv"
    table.write_text(f"file,spacing_mm,fps,species,view,subject,timepoint\n"
                     f"m01_*.avi,{case.params.spacing_mm:.6f},200,mouse,PLAX,M01,baseline\n")
    res = analyzer.score(AcquisitionTable.read(table).apply(read_cine(avi, require_loop=True)))
    row = result_row(res)
    assert row["calibration_source"] == "table" and row["species"] == "mouse" and row["species_source"] == "table"
    assert row["view"] == "PLAX" and row["patient_id"] == "M01" and row["timepoint"] == "baseline"
    assert row["edv_ul"] == pytest.approx(1000 * case.truth["edv_ml"], rel=0.25)
    assert has_flag(res.input_flags, "acquisition_table")


def test_acquisition_table_header_wins_and_errors_are_typed(tmp_path, a4c_loop_path):
    cine = read_cine(a4c_loop_path)
    table = tmp_path / "t.csv"
    table.write_text(f"file,fps,species\n{Path(a4c_loop_path).name},99,human\n")
    out = AcquisitionTable.read(table).apply(cine)
    assert out.fps == cine.fps and has_flag(out.flags, "acquisition_table_conflict")
    assert out.meta.species == "human"
    assert AcquisitionTable.read(table).apply(cine, prefer_table=True).fps == 99
    for bad in ("file,species\nx.avi,dog\n", "file,spacing_mm\nx.avi,13\n", "path,fps\nx.avi,30\n"):
        table.write_text(bad)
        with pytest.raises(AcquisitionTableError):
            AcquisitionTable.read(table)


def test_multipage_tiff_reads_as_an_uncalibrated_loop(tmp_path):
    from PIL import Image

    frames = (np.random.default_rng(0).random((6, 40, 50)) * 255).astype(np.uint8)
    path = tmp_path / "loop.tif"
    Image.fromarray(frames[0]).save(path, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]])
    cine = read_cine(path)
    assert cine.frames.shape == (6, 40, 50) and np.array_equal(cine.frames, frames)
    assert cine.spacing_mm is None and cine.fps is None
    assert has_flag(cine.flags, "calibration_missing") and has_flag(cine.flags, "timing_missing")


# ------------------------------------------------------------------ QC width, cohort refusal


def test_a_clip_with_a_useless_interval_is_flagged_and_excluded():
    from echoquant.flags import passes_qc
    from echoquant.quant.qc import check_interval_width

    flags = check_interval_width({"lvef_pct": 30.0, "lvef_ci_low": 0.0, "lvef_ci_high": 100.0})
    assert has_flag(flags, "interval_too_wide") and not passes_qc(flags)
    assert check_interval_width({"lvef_pct": 55.0, "lvef_ci_low": 35.0, "lvef_ci_high": 75.0}) == []


def test_cohort_refuses_an_effect_wider_than_the_scale():
    from echoquant.cohort.stats import meaningless_interval

    assert meaningless_interval("lvef_pct", -201.0, 236.0, 50.0)
    assert meaningless_interval("lvef_pct", -4.0, 12.0, 50.0) is None
    assert meaningless_interval("edv_ml", -0.2, 0.3, 0.06)  # volumes: twice the level
    assert meaningless_interval("edv_ml", -0.01, 0.02, 0.06) is None


# ------------------------------------------------------------------ real stills


@pytest.mark.skipif(not (RODENT_REAL / "frames.csv").is_file(), reason="../shared/rodent-real is absent")
def test_real_still_command_on_two_frames(tmp_path):
    import csv

    from echoquant.rodent_real_eval import evaluate_rodent_real

    rows = list(csv.DictReader((RODENT_REAL / "frames.csv").open()))[:2]
    sub = tmp_path / "rr"
    (sub / "frames").mkdir(parents=True)
    with (sub / "frames.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:  # links, not copies: the frames never enter the project
        (sub / "frames" / f"{r['name']}.png").symlink_to(RODENT_REAL / "frames" / f"{r['name']}.png")
    report = evaluate_rodent_real(sub, montage=tmp_path / "m.jpg")
    assert len(report["verdicts"]) == 2 and (tmp_path / "m.jpg").stat().st_size > 1000
    for v in report["verdicts"]:
        assert {"length_mm", "diameter_mm", "darkness_ratio"} <= set(v.values)


def test_gate_thresholds_are_quantiles_of_the_positives():
    import pandas as pd

    from echoquant.quant.view import fit_gate

    rng = np.random.default_rng(0)
    n = 400
    pos = pd.DataFrame({"confidence": rng.uniform(0.9, 1.0, n), "myocardium_cover": rng.uniform(0.7, 1.0, n),
                        "elongation": np.r_[rng.uniform(1.5, 3.0, n - 50), rng.uniform(1.0, 1.2, 50)],
                        "sector_edge": rng.uniform(0.0, 0.2, n), "axis_deg": rng.uniform(0, 30, n),
                        "frames_with_lv": np.ones(n), "area_fraction": rng.uniform(0.05, 0.3, n),
                        "view": ["A4C"] * (n - 50) + ["SAX"] * 50, "species": ["human"] * 200 + ["mouse"] * 200})
    gate = fit_gate(pos, 0.01)
    assert gate["min_myocardium_cover"] == pytest.approx(pos["myocardium_cover"].quantile(0.01), abs=1e-3)
    # Short axes are round by nature: they do not pull the elongation bound down.
    assert gate["min_elongation"] > 1.4
    assert gate["max_axis_deg"] == pytest.approx(pos["axis_deg"][:200].quantile(0.99), abs=1e-3)
    assert gate["area_fraction"][0] < gate["area_fraction"][1]


def test_a_round_cavity_beside_an_atrium_is_not_a_short_axis():
    yy, xx = np.mgrid[0:100, 0:100]
    cavity = (yy - 50) ** 2 + (xx - 45) ** 2 < 20 ** 2
    la = ((yy - 50) ** 2 + (xx - 80) ** 2 < 12 ** 2) & ~cavity
    assert recognise_view(cavity, None, np.array([0.0, 1.0]))[0] == "SAX"
    assert recognise_view(cavity, la, np.array([0.0, 1.0]))[0] != "SAX"


def test_rodent_view_is_voted_over_the_fuller_frames():
    """One partly traced, round largest frame does not turn a long-axis loop into a short axis."""
    from types import SimpleNamespace

    from echoquant.quant.pipeline import _shape_view

    yy, xx = np.mgrid[0:120, 0:160]
    long_axis = [((xx - 80) / (50 * s)) ** 2 + ((yy - 60) / (20 * s)) ** 2 < 1 for s in (1.0, 0.95, 0.9, 0.8, 0.75)]
    round_blob = (xx - 80) ** 2 + (yy - 60) ** 2 < 33 ** 2  # the largest frame: a round partial trace
    cavity = np.stack([round_blob, *long_axis])
    la = np.zeros_like(cavity)
    cine = SimpleNamespace(meta=SimpleNamespace(view=None), fan_mask=np.ones((120, 160), bool))
    assert recognise_view(round_blob, None, np.array([0.0, 1.0]))[0] == "SAX"
    view, feats = _shape_view(cine, cavity, la, None, "rodent")
    # frames with at least 70 % of the largest area vote: the blob and three long-axis frames
    assert view == "PLAX" and feats["view_votes"] == pytest.approx(3 / 4)
    # a loop whose frames are all round stays a short axis
    assert _shape_view(cine, np.stack([round_blob] * 4), la[:4], None, "rodent")[0] == "SAX"
    # human loops and loops whose header names the view are not voted on here
    assert _shape_view(cine, cavity, la, None, "human") == (None, {})
