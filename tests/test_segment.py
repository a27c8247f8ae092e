"""Segmentation: configs compose and instantiate, a short training run, bundles,
checksums and the predictor's geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from echoquant.errors import ChecksumError, ModelError
from echoquant.io.cine import EchoCine
from echoquant.segment.bundle import load_bundle, save_bundle
from echoquant.segment.networks import build_network
from echoquant.segment.predictor import Predictor
from echoquant.segment.preprocess import crop_box_for, from_network, to_network, to_network_labels
from echoquant.segment.transforms import RandSpeckle, train_transforms

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")


def _compose(overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("model", ["unet", "dynunet", "segresnet"])
def test_every_model_config_instantiates(model, tmp_path):
    cfg = _compose([f"model={model}", f"paths.output_dir={tmp_path}"])
    module = instantiate(cfg.model)
    x = torch.zeros(2, 1, cfg.image_size, cfg.image_size)
    assert module(x).shape == (2, 4, cfg.image_size, cfg.image_size)


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
def test_trainer_configs_compose(trainer, tmp_path):
    cfg = _compose([f"trainer={trainer}", f"paths.output_dir={tmp_path}"])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if trainer == "cpu":
        instantiate(cfg.trainer, logger=False)


def test_data_callbacks_logger_experiment_configs(tmp_path):
    for ov in (["data=synthetic"], ["data=folder", "data.train_dir=a", "data.val_dir=b"], ["experiment=default_cpu"],
               ["experiment=smoke"]):
        cfg = _compose(ov + [f"paths.output_dir={tmp_path}"])
        instantiate(cfg.data)
        for c in cfg.callbacks.values():
            instantiate(c)
        instantiate(cfg.logger)


def test_short_training_run_exports_loadable_bundle(tmp_path):
    from echoquant.train import train

    cfg = _compose(["experiment=smoke", f"paths.output_dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache"])
    metrics = train(cfg)
    assert "val/dice_mean" in metrics
    bundle = load_bundle(tmp_path / "bundle" / "echoquant_lv_smoke")
    assert bundle.image_size == 64


def _tiny_bundle(tmp_path: Path) -> Path:
    net = build_network("unet", channels=(8, 16, 32), num_res_units=1)
    return save_bundle(net, tmp_path / "tiny", network={"name": "unet", "kwargs": {"channels": [8, 16, 32], "num_res_units": 1}},
                       image_size=64)


def test_bundle_checksum_refuses_tampered_weights(tmp_path):
    root = _tiny_bundle(tmp_path)
    load_bundle(root)
    weights = root / "models" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="checksum"):
        load_bundle(root)


def test_missing_bundle_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no model bundle"):
        load_bundle(tmp_path / "nothing")


def test_metadata_is_monai_like(tmp_path):
    meta = json.loads((_tiny_bundle(tmp_path) / "configs" / "metadata.json").read_text())
    assert meta["network_data_format"]["inputs"]["image"]["modality"] == "US"
    assert meta["network_data_format"]["outputs"]["pred"]["channel_def"]["1"] == "lv_cavity"


def test_preprocess_round_trip_geometry():
    h, w = 120, 200
    fan = np.zeros((h, w), bool)
    fan[10:110, 40:170] = True
    labels = np.zeros((1, h, w), np.uint8)
    labels[0, 40:80, 90:120] = 1
    box = crop_box_for(fan)
    net_labels = to_network_labels(labels, box, 64)
    probs = np.stack([(net_labels[:, 0] == c).astype(np.float32) for c in range(4)], axis=1)
    back = from_network(probs, box, (h, w), fan)[0].argmax(0)
    inter = ((back == 1) & (labels[0] == 1)).sum()
    assert inter / (labels[0] == 1).sum() > 0.9 and (back[~fan] == 0).all()
    x = to_network(np.full((2, h, w), 255, np.uint8), fan, box, 64)
    assert x.shape == (2, 1, 64, 64) and x.max() <= 1.0


def test_predictor_returns_labels_on_cine_grid(tmp_path):
    root = _tiny_bundle(tmp_path)
    frames = np.random.default_rng(0).integers(0, 255, (3, 90, 140), dtype=np.uint8)
    fan = np.zeros((90, 140), bool)
    fan[5:85, 20:120] = True
    cine = EchoCine(frames=frames, fps=30.0, frame_times_ms=np.arange(3) * 33.3, spacing_mm=None,
                    heart_rate_bpm=None, fan_mask=fan)
    seg = Predictor(root, device="cpu", tta=True).predict(cine)
    assert seg.labels.shape == frames.shape and seg.labels.dtype == np.uint8
    assert (seg.labels[:, ~fan] == 0).all() and seg.frame_confidence.shape == (3,)


def test_augmentations_keep_label_values():
    tf = train_transforms()
    tf.set_random_state(0)
    item = {"image": torch.rand(1, 64, 64), "label": torch.randint(0, 4, (1, 64, 64))}
    for _ in range(5):
        out = tf(item)
        assert set(torch.unique(torch.as_tensor(out["label"])).tolist()) <= {0, 1, 2, 3}
        assert out["image"].shape == (1, 64, 64)
    with pytest.raises(ValueError, match="sigma_range"):
        RandSpeckle(sigma_range=(0.3, 0.1))


def test_shipped_default_model_loads_and_segments_real_loop(ybr_color_path):
    """The bundle in models/ passes its checksum and segments a real loop (on the
    cine grid, inside the fan). Accuracy on real loops is not claimed here."""
    from echoquant.io import read_cine
    from echoquant.segment.bundle import default_model_dir

    if not (default_model_dir() / "models" / "model.safetensors").is_file():
        pytest.skip("no shipped model in this checkout")
    cine = read_cine(ybr_color_path)
    seg = Predictor(None, device="cpu").predict(cine)
    assert seg.labels.shape == cine.frames.shape
    assert (seg.labels[:, ~cine.fan_mask] == 0).all()
    assert (seg.labels == 1).any(axis=(1, 2)).mean() > 0.8  # an LV is found in most frames
