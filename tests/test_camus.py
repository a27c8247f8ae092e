"""Real expert-annotated echo (CAMUS in ../shared/camus): conversion of shared
patients, a few training steps on them through the shipped recipe's config, the
evaluation command, and the shipped bundle's licence. Skipped when ../shared is absent."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO

CAMUS = REPO.parent / "shared" / "camus"
needs_camus = pytest.mark.skipif(not (CAMUS / "patients.csv").is_file(), reason="../shared/camus is absent")


def _patients(split: str, n: int) -> list[str]:
    with (CAMUS / "patients.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split and r["has_2ch"] == "True"]
    return [r["patient"] for r in rows[:n]]


def _mini_camus(tmp_path: Path, patients: list[str]) -> Path:
    """A CAMUS copy of a few patients made of links (the data stays in ../shared)."""
    root = tmp_path / "camus"
    for db in ("database_nifti", "database_2ch_224"):
        (root / db).mkdir(parents=True)
        for p in patients:
            (root / db / p).symlink_to(CAMUS / db / p)
    with (CAMUS / "patients.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with (root / "patients.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["patient"] in patients)
    return root


@needs_camus
def test_two_shared_patients_convert_with_labels_and_calibration(tmp_path):
    from echoquant.io import read_cine
    from echoquant.segment.adapters import convert_camus, read_camus_cases

    root = _mini_camus(tmp_path, _patients("train", 2))
    out = tmp_path / "out"
    convert_camus(root / "database_nifti", out)
    convert_camus(root / "database_2ch_224", out, calibrated=False)
    cases = read_camus_cases(out)
    assert len(cases) == 4 and {c.view for c in cases} == {"4CH", "2CH"} and {c.split for c in cases} == {"train"}
    for c in cases:
        cine = read_cine(out / c.relpath())
        labels = np.load(out / c.relpath().replace(".dcm", "_labels.npz"))["labels"]
        assert cine.frames.shape == labels.shape and cine.n_frames == 2
        assert set(np.unique(labels)) == {0, 1, 2, 3}
        # Labels sit on the image: the LV cavity is darker than the myocardium around it.
        assert cine.frames[0][labels[0] == 1].mean() < cine.frames[0][labels[0] == 2].mean()
        if c.view == "4CH":
            assert cine.spacing_mm == pytest.approx((0.616, 0.616), abs=1e-3)
        else:  # resampled squares: the header's 1 mm is not trusted
            assert cine.spacing_mm is None and c.spacing_mm is None


def _recipe_cfg(root: Path, out: Path, cache: Path, workers: int):
    """The shipped recipe (experiment=camus_cpu) shrunk to seconds: real patients only."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(config_name="train", return_hydra_config=True, overrides=[
            "experiment=camus_cpu", "~data.parts.synthetic", f"paths.camus_dir={root}", f"paths.output_dir={out}",
            f"paths.cache_dir={cache}", "image_size=64", "model.net.channels=[8,16,32]",
            "model.net.num_res_units=1", "trainer.max_steps=4", "trainer.val_check_interval=4", "data.batch_size=4",
            f"data.num_workers={workers}"])


@needs_camus
def test_few_training_steps_on_shared_patients_through_the_recipe_config(tmp_path):
    from echoquant.segment.bundle import load_bundle
    from echoquant.train import train

    root = _mini_camus(tmp_path, _patients("train", 2) + _patients("valid", 1))
    metrics = train(_recipe_cfg(root, tmp_path, tmp_path / "cache", workers=0))
    assert np.isfinite(metrics["val/dice_mean"])
    bundle = load_bundle(tmp_path / "bundle" / "echoquant_lv_unet")
    assert bundle.license.startswith("CC-BY-NC-SA-4.0") and "CAMUS" in bundle.metadata["training"]["data"]


@needs_camus
def test_recipe_rerun_reproduces_the_weights(tmp_path):
    """Same seed, same data: bit-identical weights, with augmentation in worker processes."""
    from echoquant.segment.bundle import load_bundle
    from echoquant.train import train

    root = _mini_camus(tmp_path, _patients("train", 2) + _patients("valid", 1))
    digests = []
    for run in ("a", "b"):
        train(_recipe_cfg(root, tmp_path / run, tmp_path / "cache", workers=2))
        digests.append(load_bundle(tmp_path / run / "bundle" / "echoquant_lv_unet").metadata["weights"]["sha256"])
    assert digests[0] == digests[1]


@needs_camus
def test_evaluation_command_on_two_valid_patients(tmp_path, capsys):
    import json

    from echoquant.evaluate import main

    main(["camus", str(CAMUS), "--split", "valid", "--limit", "2", "--markdown", str(tmp_path / "r.md"),
          "--json", str(tmp_path / "r.json"), "--png", str(tmp_path / "o.png")])
    report = json.loads((tmp_path / "r.json").read_text())
    s = report["summary"]
    assert s["n_patients"] == 2 and len(report["cases"]) == 4
    assert len(report["frames"]) == 4 * 2 * 3  # cases x phases x structures
    for view in ("4CH", "2CH"):
        for phase in ("ED", "ES"):
            assert s["segmentation"][f"{view}|{phase}|lv"]["dice"] > 0.8  # the shipped model finds the LV
    assert np.isfinite(s["segmentation"]["4CH|ED|lv"]["hd95_mm"])
    assert np.isnan(s["segmentation"]["2CH|ED|lv"]["hd95_mm"])  # no mm without a true spacing
    assert s["lvef"]["4CH"]["n_lvef"] == 2
    # Both views recognised and let through the LV-view gate, as `echoquant analyze` decides.
    assert s["views"]["all"]["n"] == 4
    assert s["views"]["all"]["view_accuracy"] == 1.0 and s["views"]["all"]["gate_pass_rate"] == 1.0
    assert "Dice LV" in (tmp_path / "r.md").read_text() and (tmp_path / "o.png").stat().st_size > 10_000


@needs_camus
@pytest.mark.slow
def test_views_recognised_and_gate_passed_on_the_whole_valid_split():
    """Issue 16: at least 95 % of CAMUS valid views named correctly (2CH as A2C) and measured."""
    from echoquant.camus_eval import evaluate_camus, summarise

    views = summarise(evaluate_camus(CAMUS, "valid"))["views"]
    assert views["all"]["n"] == 100
    for key in ("2CH", "4CH"):
        assert views[key]["view_accuracy"] >= 0.95, views
        assert views[key]["gate_pass_rate"] >= 0.95, views


def test_lv_volume_of_an_ellipse_matches_the_disk_formula():
    """The evaluation's volume (clean-up + contour + disks) on a drawn prolate
    ellipse: V = pi/6 * L * D^2 within the pixelation error."""
    import cv2

    from echoquant.camus_eval import lv_volume

    lab = np.zeros((400, 300), np.uint8)
    cv2.ellipse(lab, (150, 200), (40, 90), 0, 0, 360, 1, -1)  # D = 80 px, L = 180 px
    vol = lv_volume(lab, (0.5, 0.5), np.array([150.0, 0.0]))
    expected = np.pi / 6 * (180 * 0.5) * (80 * 0.5) ** 2 / 1000
    assert vol == pytest.approx(expected, rel=0.05)
    assert lv_volume(np.zeros((50, 50), np.uint8), (0.5, 0.5), None) is None


def test_surface_metrics_without_spacing_give_dice_only():
    from echoquant.evaluate import surface_metrics

    a = np.zeros((40, 40), bool)
    a[10:30, 10:30] = True
    b = np.roll(a, 2, axis=1)
    dice, hd, mcd = surface_metrics(a, b, None)
    assert dice == pytest.approx(2 * 20 * 18 / 800) and np.isnan(hd) and np.isnan(mcd)
    dice_mm, hd_mm, _ = surface_metrics(a, b, 0.5)
    assert dice_mm == dice and hd_mm == pytest.approx(1.0)  # a 2-pixel shift at 0.5 mm


def test_ed_es_frames_of_pairs_and_half_sequences():
    from echoquant.camus_eval import ed_es_frames

    assert ed_es_frames("ED,ES", 2) == (0, 1)
    assert ed_es_frames("half_sequence", 17) == (0, 16)  # CAMUS half sequences run from ED to ES
    with pytest.raises(ValueError, match="half sequence"):
        ed_es_frames("ED,ES", 5)


def test_shipped_bundle_states_its_licence():
    from echoquant.segment.bundle import default_model_dir, load_bundle

    if not (default_model_dir() / "models" / "model.safetensors").is_file():
        pytest.skip("no shipped model in this checkout")
    bundle = load_bundle()
    assert bundle.license.startswith("CC-BY-NC-SA-4.0")
    assert "CAMUS" in bundle.metadata["training"]["data"]
    synth = REPO / "models" / "echoquant_lv_synth"
    assert load_bundle(synth).license == "Apache-2.0"
