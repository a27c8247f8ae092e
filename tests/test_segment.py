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
from echoquant.io.cine import CineMeta, EchoCine
from echoquant.segment.bundle import load_bundle, save_bundle
from echoquant.segment.networks import build_network
from echoquant.segment.predictor import Predictor
from echoquant.segment.preprocess import (
    crop_box_for, from_network, labels_from_network, normalize_intensity, to_network, to_network_fractions,
    to_network_labels,
)
from echoquant.segment.transforms import (
    RandApexRotate, RandApexRotated, RandSectorCrop, RandSectorCropd, RandSpeckle, sector_apex, train_transforms,
)

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
    # every experiment in configs/experiment composes and instantiates
    experiments = sorted(p.stem for p in (Path(__file__).parents[1] / "configs" / "experiment").glob("*.yaml"))
    assert "rodent_sax_finetune_cpu" in experiments
    for ov in (["data=synthetic"], ["data=folder", "data.train_dir=a", "data.val_dir=b"], ["data=camus_mix"],
               *([f"experiment={name}"] for name in experiments)):
        cfg = _compose(ov + [f"paths.output_dir={tmp_path}"])
        instantiate(cfg.data)
        for c in cfg.callbacks.values():
            instantiate(c)
        instantiate(cfg.logger)


def test_training_mix_can_fix_a_view():
    from echoquant.segment.data import split_preset

    assert split_preset("rodent:SAX") == ("rodent", {"view": "SAX"})
    assert split_preset("human") == ("human", {})
    with pytest.raises(ValueError, match="view after ':'"):
        split_preset("rodent:SAXX")
    with pytest.raises(ValueError, match="for preset 'human'"):
        split_preset("human:SAX")  # the generator renders no human short axis
    with pytest.raises(ValueError, match="preset must be one of"):
        split_preset("dog:PLAX")


def test_short_training_run_exports_loadable_bundle(tmp_path):
    from echoquant.train import train

    cfg = _compose(["experiment=smoke", f"paths.output_dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache"])
    metrics = train(cfg)
    assert "val/dice_mean" in metrics
    bundle = load_bundle(tmp_path / "bundle" / "echoquant_lv_smoke")
    assert bundle.image_size == 64


def _tiny_bundle(tmp_path: Path, intensity: str = "scale") -> Path:
    torch.manual_seed(0)
    net = build_network("unet", channels=(8, 16, 32), num_res_units=1)
    return save_bundle(net, tmp_path / "tiny", network={"name": "unet", "kwargs": {"channels": [8, 16, 32], "num_res_units": 1}},
                       image_size=64, intensity=intensity)


def test_equalize_is_blind_to_monotone_tone_changes():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 128, (2, 32, 32))
    levels[:, :4] = 0  # outside the sector
    x = levels / 255.0
    eq = normalize_intensity(x, "equalize")
    # Doubling every level (a gain change, injective on 0..127) changes nothing.
    np.testing.assert_allclose(normalize_intensity(2 * x, "equalize"), eq, atol=1e-6)
    # A gamma curve merges a few levels: nearly the same input.
    assert np.abs(normalize_intensity(x ** 0.6, "equalize") - eq).mean() < 0.01
    assert (eq[levels == 0] == 0).all() and eq[levels > 0].min() > 0 and eq.max() < 1
    # Ranks of the echo pixels: uniform on (0, 1), mean one half, per frame.
    for f in range(2):
        assert abs(eq[f][levels[f] > 0].mean() - 0.5) < 0.01
    assert normalize_intensity(x, "scale") is x
    assert (normalize_intensity(np.zeros((1, 8, 8)), "equalize") == 0).all()


def test_unknown_intensity_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="intensity"):
        normalize_intensity(np.zeros((1, 8, 8)), "zscore")
    with pytest.raises(ValueError, match="intensity"):
        _tiny_bundle(tmp_path, intensity="zscore")


def test_bundle_records_intensity_and_predictor_applies_it(tmp_path):
    root = _tiny_bundle(tmp_path, intensity="equalize")
    assert load_bundle(root).intensity == "equalize"
    meta_path = root / "configs" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["network_data_format"]["inputs"]["image"]["intensity"]
    meta_path.write_text(json.dumps(meta))
    assert load_bundle(root).intensity == "scale"  # bundles from before the field
    meta["network_data_format"]["inputs"]["image"]["intensity"] = "equalize"
    meta_path.write_text(json.dumps(meta))
    frames = np.random.default_rng(1).integers(1, 100, (2, 64, 64)).astype(np.uint8)
    fan = np.zeros((64, 64), bool)
    fan[2:63, 2:63] = True  # a 64-pixel crop box: no resampling, so ranks are kept exactly
    brighter = frames * 2  # a gain change: the same ranks
    cine = EchoCine(frames=frames, fps=30.0, frame_times_ms=np.arange(2) * 33.3, spacing_mm=None,
                    heart_rate_bpm=None, fan_mask=fan)
    pred = Predictor(root, device="cpu", temporal_window=1)
    a = pred.predict(cine).labels
    b = pred.predict(EchoCine(frames=brighter, fps=30.0, frame_times_ms=cine.frame_times_ms, spacing_mm=None,
                              heart_rate_bpm=None, fan_mask=fan)).labels
    np.testing.assert_array_equal(a, b)


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


def test_label_fractions_keep_the_border_where_nearest_labels_move_it():
    """A disc's area is kept by the fractions (area averaging) to a fraction of a pixel,
    and their majority labels, brought back to the cine grid, match the disc better
    than nearest-neighbour labels do (analytic truth: the disc itself)."""
    h = w = 301
    fan = np.ones((h, w), bool)
    rows, cols = np.mgrid[0:h, 0:w]
    ring = (np.hypot(rows - 150.3, cols - 149.6) < 60) & (np.hypot(rows - 150.3, cols - 149.6) >= 52)
    labels = (ring * 2).astype(np.uint8)[None]  # an 8-px "myocardium" ring
    box = crop_box_for(fan, margin=0.0)
    fractions = to_network_fractions(labels, box, 64, (1, 2, 3))
    assert fractions.shape == (1, 3, 64, 64) and fractions.dtype == np.float32
    scale2 = (box.size / 64) ** 2
    assert fractions[0, 1].sum() * scale2 == pytest.approx(ring.sum(), rel=0.01)
    assert fractions[0, 0].sum() == 0 and fractions[0, 2].sum() == 0

    def dice_back(probs):
        back = from_network(probs[None], box, (h, w), fan)[0].argmax(0) == 2
        return 2 * (back & ring).sum() / (back.sum() + ring.sum())

    soft = np.concatenate([1 - fractions[0].sum(0, keepdims=True), fractions[0]])
    near = to_network_labels(labels, box, 64)[0, 0]
    hard = np.stack([(near == c).astype(np.float32) for c in range(4)])
    assert dice_back(soft) > dice_back(hard) + 0.02


def test_soft_label_dataset_gives_fractions_that_sum_to_one_through_augmentation():
    from echoquant.segment.data import FrameArrays, FrameDataset

    size = 48
    img = (_sector_image(size) * 200).numpy().astype(np.uint8)
    labels = np.zeros((2, size, size), np.uint8)
    labels[:, 20:30, 15:33] = 1
    labels[:, 18:20, 15:33] = 2
    fractions = np.stack([np.stack([(labels[i] == c).astype(np.uint8) * 255 for c in (1, 2, 3)]) for i in range(2)])
    arrays = FrameArrays(np.concatenate([img, img]), labels, fractions)
    np.testing.assert_array_equal(arrays.majority_labels(), labels)
    tf = train_transforms(soft_labels=True)
    tf.set_random_state(1)
    ds = FrameDataset(arrays, tf, "equalize", labels="fractions")
    for i in range(6):
        item = ds[i % 2]
        lab = item["label"]
        assert lab.shape == (4, size, size) and lab.dtype == torch.float32
        torch.testing.assert_close(lab.sum(0), torch.ones(size, size), atol=1e-5, rtol=0)
        assert float(lab.min()) >= 0.0
    assert FrameDataset(arrays, labels="majority")[0]["label"].shape == (1, size, size)
    with pytest.raises(ValueError, match="label fractions"):
        FrameDataset(FrameArrays(arrays.images, labels), labels="fractions")
    with pytest.raises(ValueError, match="labels must be one of"):
        FrameDataset(arrays, labels="soft")


def test_module_loss_takes_class_indices_or_fractions():
    from echoquant.segment.module import LVSegmentationModule

    module = LVSegmentationModule(build_network("unet", channels=(8, 16, 32), num_res_units=1))
    hard = torch.zeros(2, 1, 32, 32, dtype=torch.long)
    hard[:, :, 8:20, 8:20] = 1
    soft = torch.nn.functional.one_hot(hard[:, 0], 4).permute(0, 3, 1, 2).float()
    logits = torch.randn(2, 4, 32, 32)
    # One-hot fractions are the indices written another way: the same loss.
    assert float(module._loss(logits, soft)) == pytest.approx(float(module._loss(logits, hard)), rel=1e-5)


def test_module_keeps_an_exponential_average_of_the_weights():
    """With ema_decay the module validates and exports the weight average: a copy of the
    weights at the first step, then decay * average + (1 - decay) * weights."""
    from echoquant.segment.module import LVSegmentationModule

    torch.manual_seed(0)
    module = LVSegmentationModule(build_network("unet", channels=(8, 16, 32), num_res_units=1), ema_decay=0.5)
    opt = torch.optim.SGD(module.net.parameters(), lr=0.1)
    batch = {"image": torch.rand(2, 1, 32, 32), "label": torch.randint(0, 4, (2, 1, 32, 32))}
    snapshots = []
    for step in range(2):
        opt.zero_grad()
        module._loss(module(batch["image"]), batch["label"]).backward()
        opt.step()
        module.on_train_batch_end(None, batch, step)
        snapshots.append([w.detach().clone() for w in module.net.parameters()])
    first, second = snapshots
    for avg, w1, w2 in zip(module.inference_net.parameters(), first, second):
        torch.testing.assert_close(avg, 0.5 * w1 + 0.5 * w2)
    assert module.inference_net is not module.net
    assert all(not w.requires_grad for w in module.ema.parameters())
    plain = LVSegmentationModule(build_network("unet", channels=(8, 16, 32), num_res_units=1))
    assert plain.ema is None and plain.inference_net is plain.net
    with pytest.raises(ValueError, match="ema_decay"):
        LVSegmentationModule(build_network("unet", channels=(8, 16, 32), num_res_units=1), ema_decay=1.0)


def test_fine_tuning_starts_from_a_bundle_and_refuses_a_mismatch(tmp_path):
    from echoquant.segment.module import LVSegmentationModule
    from echoquant.train import _start_from_bundle

    bundle = _tiny_bundle(tmp_path)
    module = LVSegmentationModule(build_network("unet", channels=(8, 16, 32), num_res_units=1))
    assert _start_from_bundle(module, str(bundle), 64, "scale") == load_bundle(bundle).license
    for a, b in zip(module.net.state_dict().values(), load_bundle(bundle).net.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="image_size=64"):
        _start_from_bundle(module, str(bundle), 128, "scale")
    with pytest.raises(ValueError, match="intensity=scale"):
        _start_from_bundle(module, str(bundle), 64, "equalize")
    other = LVSegmentationModule(build_network("unet", channels=(8, 16, 64), num_res_units=1))
    with pytest.raises(ValueError, match="does not match"):
        _start_from_bundle(other, str(bundle), 64, "scale")


def _box_mask(box, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a frame of ``shape`` inside the network's crop box."""
    mask = np.zeros(shape, bool)
    mask[max(box.row, 0) : box.row + box.size, max(box.col, 0) : box.col + box.size] = True
    return mask


@pytest.mark.parametrize("fan_box", [(10, 110, 40, 170), (0, 120, 0, 200), (30, 60, 150, 200)])
def test_labels_from_network_decide_like_the_full_probability_maps(fan_box):
    """The Predictor's fast decision (inside the box and sector only) equals the argmax of
    the full-frame probability maps, and its confidence is the winning probability."""
    h, w = 120, 200
    fan = np.zeros((h, w), bool)
    r0, r1, c0, c1 = fan_box
    fan[r0:r1, c0:c1] = True
    box = crop_box_for(fan)
    logits = np.random.default_rng(0).normal(size=(4, 64, 64)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(0)
    full = from_network(probs[None], box, (h, w), fan)[0]
    labels, prob = labels_from_network(probs, box, (h, w), fan)
    np.testing.assert_array_equal(labels, full.argmax(0))
    np.testing.assert_allclose(prob[fan], full.max(0)[fan], rtol=1e-6)
    assert (prob[~fan] == 0).all() and len(np.unique(labels[fan])) == 4
    # Without a sector mask the labels inside the sector are the same and the box around
    # it is decided too; outside the box stays background.
    free, _ = labels_from_network(probs, box, (h, w), None)
    np.testing.assert_array_equal(free[fan], labels[fan])
    in_box = _box_mask(box, (h, w))
    assert (free[~in_box] == 0).all()
    if (in_box & ~fan).any():
        assert (free[in_box & ~fan] > 0).any()


def _noise_cine(n_frames: int) -> EchoCine:
    """Random 90x140 frames with a rectangular sector (for geometry, not accuracy)."""
    frames = np.random.default_rng(0).integers(0, 255, (n_frames, 90, 140), dtype=np.uint8)
    fan = np.zeros((90, 140), bool)
    fan[5:85, 20:120] = True
    return EchoCine(frames=frames, fps=30.0, frame_times_ms=np.arange(n_frames) * 33.3, spacing_mm=None,
                    heart_rate_bpm=None, fan_mask=fan)


def test_predictor_returns_labels_on_cine_grid(tmp_path):
    root = _tiny_bundle(tmp_path)
    cine = _noise_cine(3)
    seg = Predictor(root, device="cpu", tta=True).predict(cine)
    assert seg.labels.shape == cine.frames.shape and seg.labels.dtype == np.uint8
    assert seg.frame_confidence.shape == (3,)
    # Labels may continue past the sector's edge (as expert outlines do), never past the
    # network's box; clip_to_sector cuts them at the edge and leaves the sector alone.
    box = crop_box_for(cine.fan_mask)
    in_box = _box_mask(box, cine.shape)
    assert (seg.labels[:, ~in_box] == 0).all()
    free = Predictor(root, device="cpu", keep_largest=()).predict(cine)
    clipped = Predictor(root, device="cpu", keep_largest=(), clip_to_sector=True).predict(cine)
    assert (clipped.labels[:, ~cine.fan_mask] == 0).all() and (free.labels[:, ~cine.fan_mask] > 0).any()
    np.testing.assert_array_equal(clipped.labels[:, cine.fan_mask], free.labels[:, cine.fan_mask])


def test_predictor_routes_a_species_to_the_weights_the_bundle_names(tmp_path):
    main = _tiny_bundle(tmp_path)
    torch.manual_seed(1)  # other weights, so the two bundles label noise differently
    net = build_network("unet", channels=(8, 16, 32), num_res_units=1)
    rodent = save_bundle(net, tmp_path / "tiny_rodent", image_size=64,
                         network={"name": "unet", "kwargs": {"channels": [8, 16, 32], "num_res_units": 1}})
    meta_path = main / "configs" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["species_models"] = {"mouse": "tiny_rodent", "rat": "tiny_rodent"}
    meta_path.write_text(json.dumps(meta))
    assert load_bundle(main).species_models == {"mouse": rodent.resolve(), "rat": rodent.resolve()}
    base = _noise_cine(2)

    def cine(species=None, spacing=None, fps=30.0):
        return EchoCine(frames=base.frames, fps=fps, frame_times_ms=np.arange(2) * 1000 / fps, spacing_mm=spacing,
                        heart_rate_bpm=None, fan_mask=base.fan_mask, meta=CineMeta(species=species))

    routed = Predictor(main, device="cpu", temporal_window=1)
    own = Predictor(rodent, device="cpu", temporal_window=1).predict(cine())
    mouse = routed.predict(cine("mouse"))
    assert mouse.model == "tiny_rodent"
    np.testing.assert_array_equal(mouse.labels, own.labels)
    assert routed.predict(cine("human")).model == "tiny"
    assert routed.describe() == "tiny (weights used: tiny, tiny_rodent)"
    # No species named: inferred as quantification infers it (a 6 mm deep image is a mouse's,
    # a 150 mm one a human's; without a calibration, 30 frames/s is a human loop).
    assert routed.predict(cine(spacing=(0.1, 0.1))).model == "tiny_rodent"
    assert routed.predict(cine(spacing=(2.5, 2.5))).model == "tiny"
    assert routed.predict(cine()).model == "tiny"
    assert Predictor(main, device="cpu", route_species=False).predict(cine("mouse")).model == "tiny"
    meta["species_models"] = {"mouse": "missing"}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="no model bundle"):
        Predictor(main, device="cpu").predict(cine("mouse"))


def test_predictor_keeps_the_largest_region_per_label(tmp_path):
    from scipy import ndimage

    root = _tiny_bundle(tmp_path)
    cine = _noise_cine(2)
    raw = Predictor(root, device="cpu", temporal_window=1, keep_largest=()).predict(cine).labels
    kept = Predictor(root, device="cpu", temporal_window=1, keep_largest=(1, 2, 3)).predict(cine).labels
    n_regions = lambda lab, c: ndimage.label(lab == c)[1]  # noqa: E731
    assert max(n_regions(f, c) for f in raw for c in (1, 2, 3)) > 1  # an untrained net scatters labels
    for f_raw, f_kept in zip(raw, kept):
        for c in (1, 2, 3):
            assert n_regions(f_kept, c) <= 1
        changed = f_raw != f_kept
        assert (f_kept[changed] == 0).all()  # removed pixels become background, nothing else moves
    with pytest.raises(ValueError, match="keep_largest"):
        Predictor(root, device="cpu", keep_largest=(0,))


def test_largest_region_is_judged_by_its_imaged_pixels():
    from echoquant.segment.predictor import _keep_largest_region

    imaged = np.zeros((40, 40), bool)
    imaged[:, :25] = True  # the scan sector: columns 0-24
    labels = np.zeros((40, 40), np.uint8)
    labels[5:15, 5:12] = 3  # 70 pixels, all imaged
    labels[20:40, 22:40] = 3  # 360 pixels, 60 of them imaged
    total = labels.copy()
    _keep_largest_region(total, 3)
    assert (total[20:40, 22:40] == 3).all() and not total[5:15, 5:12].any()
    imaged_rule = labels.copy()
    _keep_largest_region(imaged_rule, 3, imaged)
    assert (imaged_rule[5:15, 5:12] == 3).all() and not imaged_rule[20:40, 22:40].any()
    # Nothing imaged at all: the total size decides.
    outside = labels.copy()
    _keep_largest_region(outside, 3, np.zeros_like(imaged))
    np.testing.assert_array_equal(outside, total)


@pytest.mark.parametrize("window", [1, 3, 5])
def test_temporal_mean_is_a_moving_mean_with_repeated_edges(window):
    from scipy.ndimage import uniform_filter1d

    from echoquant.segment.predictor import temporal_mean

    x = np.random.default_rng(2).random((9, 4, 6, 5)).astype(np.float32)
    out = temporal_mean(x, window)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, uniform_filter1d(x, window, axis=0, mode="nearest"), atol=1e-6)
    ramp = np.arange(7, dtype=np.float32)[:, None]  # a linear ramp is unchanged away from the edges
    np.testing.assert_allclose(temporal_mean(ramp, 3)[1:-1], ramp[1:-1], atol=1e-6)


@pytest.mark.parametrize("period, n, expected", [
    (16, 60, 1),    # mouse, 560 bpm at 150 frames/s: no averaging
    (24, 60, 3),    # mouse, 500 bpm at 200 frames/s: 3 frames
    (44, 100, 5),   # human, 68 bpm at 50 frames/s: 5 frames allowed
    (300, 700, 5),  # EKV-style 1,000 frames/s: the full window
    (120, 130, 5),  # about one cycle, no repeat: the loop's length is the cycle
])
def test_temporal_window_follows_the_cardiac_cycle(period, n, expected):
    from echoquant.segment.predictor import MAX_PEAK_FLATTENING, cycle_limited_window, cycle_period_frames, temporal_mean

    t = np.arange(n)
    curve = 100 + 20 * np.cos(2 * np.pi * t / period) + np.random.default_rng(1).normal(0, 1, n)
    found = cycle_period_frames(curve)
    assert found is None if n < 1.5 * period else abs(found - period) <= max(1.0, 0.02 * period)
    window = cycle_limited_window(curve, 5)
    assert window == expected
    # The window chosen flattens the clean cosine's peak and trough by at most the stated share.
    clean = np.cos(2 * np.pi * t / period)[:, None]
    swing = np.ptp(temporal_mean(clean, window)[window:-window])
    assert swing >= (1 - 2 * MAX_PEAK_FLATTENING) * np.ptp(clean[window:-window]) - 1e-9
    assert cycle_limited_window(curve, 1) == 1
    assert cycle_limited_window(np.full(n, 5.0), 3) == 3  # no motion: the loop's length counts as the cycle
    assert cycle_limited_window(np.full(20, 5.0), 3) == 1


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


def _sector_image(size: int = 96) -> torch.Tensor:
    """A 60-degree sector of ones with its apex at row 4, column 48."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    r, a = np.hypot(rows - 4, cols - 48), np.arctan2(cols - 48, np.maximum(rows - 4, 1e-3))
    return torch.from_numpy(((rows >= 4) & (r < 85) & (np.abs(a) <= np.pi / 6)).astype(np.float32))[None]


def test_apex_rotation_turns_about_the_transducer():
    img = _sector_image()
    assert sector_apex(img) == pytest.approx((4.0, 48.0), abs=0.5)
    point = torch.zeros(1, 96, 96)
    point[0, 64, 48] = 1.0  # 60 px below the apex
    rot = RandApexRotate(prob=1.0, max_deg=30)
    rot.randomize()
    rot.angle = np.deg2rad(30.0)
    out = rot(point, apex=(4.0, 48.0), mode="nearest", randomize=False)
    (r, c), = torch.nonzero(out[0]).tolist()
    # Where a 30-degree turn about the apex puts it (either sense), the apex staying put.
    assert r == pytest.approx(4 + 60 * np.cos(np.pi / 6), abs=1.0) and abs(c - 48) == pytest.approx(30, abs=1.0)
    d = RandApexRotated(keys=["image", "label"], prob=1.0, max_deg=20)
    d.set_random_state(3)
    res = d({"image": img, "label": (img * 2).long()})
    assert set(torch.unique(res["label"]).tolist()) <= {0, 2}  # nearest neighbour for labels
    assert sector_apex(res["image"]) == pytest.approx((4.0, 48.0), abs=1.5)
    with pytest.raises(ValueError, match="max_deg"):
        RandApexRotate(max_deg=-1)


def test_sector_crop_narrows_image_and_labels_together():
    img = _sector_image()
    crop = RandSectorCropd(keys=["image", "label"], prob=1.0, angle_range=(0.5, 0.5), depth_range=(0.6, 0.6))
    crop.set_random_state(0)
    out = crop({"image": img, "label": (img * 3).long()})
    kept = out["image"][0] > 0
    assert torch.equal(kept, out["label"][0] == 3)
    rows, cols = torch.nonzero(kept, as_tuple=True)
    radius = torch.hypot(rows.float() - 4, cols.float() - 48)
    angle = torch.atan2(cols.float() - 48, (rows.float() - 4).clamp(min=1e-3))
    assert float(radius.max()) <= 0.6 * 85 + 1 and float(angle.abs().max()) <= 0.5 * np.pi / 6 + 0.05
    assert 0.15 < kept.float().sum() / (img[0] > 0).float().sum() < 0.5
    with pytest.raises(ValueError, match="angle_range"):
        RandSectorCrop(angle_range=(0.0, 1.0))


def test_augmentations_are_deterministic_by_seed():
    item = {"image": _sector_image(64 + 32) * 0.5, "label": (_sector_image() * 1).long()}
    outs = []
    for _ in range(2):
        tf = train_transforms()
        tf.set_random_state(7)
        outs.append([tf(item)["image"] for _ in range(3)])
    for a, b in zip(*outs):
        assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))


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


def test_shipped_default_model_routes_rodent_loops_to_its_rodent_weights(ybr_color_path):
    """The default bundle names rodent weights of its own; a real human loop keeps the
    human weights, the same loop declared a mouse's goes to the rodent ones."""
    from dataclasses import replace

    from echoquant.io import read_cine
    from echoquant.segment.bundle import default_model_dir

    if not (default_model_dir() / "models" / "model.safetensors").is_file():
        pytest.skip("no shipped model in this checkout")
    predictor = Predictor(None, device="cpu")
    rodent = predictor.bundle.species_models["mouse"]
    assert predictor.bundle.species_models["rat"] == rodent and (rodent / "models" / "model.safetensors").is_file()
    cine = read_cine(ybr_color_path)
    assert predictor.bundle_for(cine).name == "echoquant_lv_unet"
    mouse = replace(cine, meta=replace(cine.meta, species="mouse"))
    routed = predictor.bundle_for(mouse)
    assert routed.name == rodent.name == "echoquant_lv_unet_rodent" and routed.license == predictor.bundle.license
