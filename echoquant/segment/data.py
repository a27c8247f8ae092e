"""Training data: frames and labels as LightningDataModules.

- :class:`SynthDataModule`: frames from :mod:`echoquant.synth`, generated once
  into a cache (deterministic by seed) and reused.
- :class:`FolderDataModule`: any folder of cases written as ``NAME.dcm`` (or
  ``.avi``/``.mp4``) + ``NAME_labels.npz`` (``labels`` of shape (T, H, W)); this is
  the layout the synthetic writer uses and the format adapters convert to.

Every frame goes through the same geometry as at inference
(:mod:`echoquant.segment.preprocess`): crop to the sector, square, resize.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from echoquant._memory import keep_freed_memory
from echoquant.segment.preprocess import (
    crop_box_for, normalize_intensity, to_network, to_network_fractions, to_network_labels,
)

__all__ = ["FrameArrays", "FrameDataset", "SynthDataModule", "FolderDataModule", "CamusDataModule", "MixedDataModule",
           "synth_frames", "case_frames"]


FRACTION_CLASSES = (1, 2, 3)  # LV cavity, myocardium, LA: background is what they leave


@dataclass
class FrameArrays:
    """Network-ready frames: ``images (N, s, s)`` uint8, ``labels (N, s, s)`` uint8
    (nearest neighbour) and ``fractions (N, 3, s, s)`` uint8 (0..255: the share of each
    network pixel covered by LV cavity, myocardium and LA; None in caches written
    before they existed)."""

    images: np.ndarray
    labels: np.ndarray
    fractions: np.ndarray | None = None

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.partial.npz")
        extra = {} if self.fractions is None else {"fractions": self.fractions}
        np.savez_compressed(tmp, images=self.images, labels=self.labels, **extra)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "FrameArrays":
        d = np.load(path)
        return cls(d["images"], d["labels"], d["fractions"] if "fractions" in d else None)

    @classmethod
    def concat(cls, parts: list["FrameArrays"]) -> "FrameArrays":
        fractions = None if any(p.fractions is None for p in parts) else np.concatenate([p.fractions for p in parts])
        return cls(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]), fractions)

    def majority_labels(self) -> np.ndarray:
        """``(N, s, s)`` the class covering most of each network pixel (from the
        fractions): the centre-aligned hard label, for validation."""
        if self.fractions is None:
            raise ValueError("these frames carry no label fractions; regenerate the cache")
        f = self.fractions.astype(np.int16)
        stacked = np.concatenate([255 - f.sum(axis=1, keepdims=True), f], axis=1)
        classes = np.array((0,) + FRACTION_CLASSES, dtype=np.uint8)
        return classes[stacked.argmax(axis=1)]


def case_frames(frames: np.ndarray, labels: np.ndarray, fan_mask: np.ndarray, indices: list[int], size: int) -> FrameArrays:
    """Selected frames of one loop, cropped and resized like at inference."""
    box = crop_box_for(fan_mask)
    imgs = to_network(frames[indices], fan_mask, box, size)[:, 0]
    labs = to_network_labels(labels[indices], box, size)[:, 0]
    fractions = to_network_fractions(labels[indices], box, size, FRACTION_CLASSES)
    return FrameArrays((imgs * 255 + 0.5).astype(np.uint8), labs, (fractions * 255 + 0.5).astype(np.uint8))


def split_preset(spec: str) -> tuple[str, dict[str, str]]:
    """``"rodent:SAX"`` -> ``("rodent", {"view": "SAX"})``: a mix entry that fixes the view,
    so a training mix can weight one view (plain ``"rodent"`` keeps the generator's own
    view mix)."""
    from echoquant.synth.generate import PRESETS, views_of

    preset, _, view = spec.partition(":")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS} (optionally ':VIEW'), got {spec!r}")
    if view and view not in views_of(preset):
        raise ValueError(f"view after ':' must be one of {views_of(preset)} for preset {preset!r}, got {spec!r}")
    return preset, ({"view": view} if view else {})


def _one_synth_case(args: tuple[str, int, int, int, dict]) -> FrameArrays:
    from echoquant.synth import generate_case, sample_params
    from echoquant.synth.generate import frame_schedule

    spec, seed, size, per_case, overrides = args
    preset, fixed = split_preset(spec)
    params = sample_params(preset, seed, **{**overrides, **fixed})
    # Only the frames taken are rendered (a 400 frames/s rodent loop has hundreds).
    times, ed, es = frame_schedule(params)
    rng = np.random.default_rng(seed)
    n = len(times)
    pairs = [(int(a), int(b)) for a, b in zip(ed, es) if a < b] or [(int(ed[0]), int(es[-1]))]
    picks = set(pairs[0])
    picks |= set(int(i) for i in rng.choice(n, size=min(n, max(0, per_case - 2)), replace=False))
    picks = sorted(picks)[:per_case]
    case = generate_case(params, only_frames=picks)
    return case_frames(case.grey, case.labels, case.sector, picks, size)


def synth_frames(presets: dict[str, float], n_cases: int, seed: int, size: int, per_case: int,
                 overrides: dict[str, Any] | None = None, workers: int = 1) -> FrameArrays:
    """Generate frames from ``n_cases`` synthetic loops, presets mixed by weight."""
    names = sorted(presets)
    for name in names:
        split_preset(name)  # fail before generating anything
    weights = np.array([presets[k] for k in names], dtype=float)
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(names, size=n_cases, p=weights)
    jobs = [(str(p), seed * 1_000_003 + i, size, per_case, dict(overrides or {})) for i, p in enumerate(chosen)]
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=keep_freed_memory) as pool:
            parts = list(pool.map(_one_synth_case, jobs))
    else:
        parts = [_one_synth_case(j) for j in jobs]
    return FrameArrays.concat(parts)


def _plain(x: Any) -> Any:
    """Hydra hands DictConfig/ListConfig; make plain dicts and lists of them."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(x, (DictConfig, ListConfig)):
        return OmegaConf.to_container(x, resolve=True)
    return x


LABEL_KINDS = ("nearest", "majority", "fractions")


class FrameDataset(Dataset):
    """Frames as MONAI-style dicts ``{"image": (1, s, s) float, "label": ...}``.

    Args:
        arrays: the frames.
        transform: augmentation, applied after the intensity normalisation (as
            nnU-Net does: the network sees normalised frames, varied).
        intensity: the bundle's intensity mode (:func:`normalize_intensity`).
        labels: ``"nearest"``: ``(1, s, s)`` class indices from nearest-neighbour
            resizing; ``"majority"``: the class covering most of each pixel;
            ``"fractions"``: ``(4, s, s)`` float class shares per pixel (background
            first), resampled bilinearly by the augmentations (soft targets).
    """

    def __init__(self, arrays: FrameArrays, transform=None, intensity: str = "scale", labels: str = "nearest") -> None:
        if labels not in LABEL_KINDS:
            raise ValueError(f"labels must be one of {LABEL_KINDS}, got {labels!r}")
        if labels != "nearest" and arrays.fractions is None:
            raise ValueError(f"labels={labels!r} needs frames with label fractions; these come from a cache written "
                             "before them: delete it (paths.cache_dir) so that it is rebuilt")
        self.arrays, self.transform, self.intensity, self.label_kind = arrays, transform, intensity, labels
        self._majority = arrays.majority_labels() if labels == "majority" else None

    def __len__(self) -> int:
        return len(self.arrays.images)

    def _label(self, i: int) -> torch.Tensor:
        if self.label_kind == "fractions":
            return torch.from_numpy(self.arrays.fractions[i].astype(np.float32) / 255.0)
        hard = self._majority if self._majority is not None else self.arrays.labels
        return torch.from_numpy(hard[i][None].astype(np.int64))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {
            # The cached frames are already on the network grid, with zeros outside
            # the sector, exactly as to_network hands them at inference.
            "image": torch.from_numpy(normalize_intensity(self.arrays.images[i][None].astype(np.float32) / 255.0,
                                                          self.intensity)),
            "label": self._label(i),
        }
        if self.transform is not None:
            item = self.transform(item)
        image = torch.as_tensor(item["image"]).float()
        if self.label_kind != "fractions":
            return {"image": image, "label": torch.as_tensor(item["label"]).long()}
        # Augmentations pad with zeros and cut the sector: background is what the
        # three structures leave, so it is rebuilt after them.
        fg = torch.as_tensor(item["label"]).float().clamp(0.0, 1.0)
        return {"image": image, "label": torch.cat([(1.0 - fg.sum(0, keepdim=True)).clamp(min=0.0), fg])}


class _ArraysDataModule(pl.LightningDataModule):
    """Shared loaders over train/val :class:`FrameArrays` (``soft_labels``: train on
    label fractions, see :class:`SynthDataModule`)."""

    def __init__(self, batch_size: int = 16, num_workers: int = 0, augment: float = 1.0, seed: int = 0,
                 intensity: str = "scale", soft_labels: bool = False) -> None:
        super().__init__()
        self.batch_size, self.num_workers, self.augment, self.seed = batch_size, num_workers, augment, seed
        self.intensity, self.soft_labels = intensity, soft_labels
        self.train_arrays: FrameArrays | None = None
        self.val_arrays: FrameArrays | None = None

    def train_dataloader(self) -> DataLoader:
        from echoquant.segment.transforms import train_transforms

        tf = train_transforms(self.augment, soft_labels=self.soft_labels) if self.augment > 0 else None
        if tf is not None:
            tf.set_random_state(self.seed)
        from monai.data.utils import worker_init_fn

        g = torch.Generator().manual_seed(self.seed)
        # worker_init_fn re-seeds the transforms in each worker (from the loader's
        # seeded generator): without it every worker replays the same augmentations.
        kind = "fractions" if self.soft_labels else "nearest"
        return DataLoader(FrameDataset(self.train_arrays, tf, self.intensity, kind), batch_size=self.batch_size, shuffle=True,
                          num_workers=self.num_workers, generator=g, drop_last=len(self.train_arrays.images) > self.batch_size,
                          persistent_workers=self.num_workers > 0, worker_init_fn=worker_init_fn)

    def val_dataloader(self) -> DataLoader:
        # Soft-label training is judged against the centre-aligned majority labels.
        kind = "majority" if self.soft_labels else "nearest"
        return DataLoader(FrameDataset(self.val_arrays, intensity=self.intensity, labels=kind), batch_size=self.batch_size,
                          shuffle=False,
                          num_workers=0)


class SynthDataModule(_ArraysDataModule):
    """Synthetic frames, generated once into ``cache_dir`` and reused.

    Args:
        cache_dir: where the generated arrays are kept (one file per setting).
        presets: generator presets with mixing weights; ``"rodent:SAX"`` fixes the
            view of that share.
        n_train: training loops.
        n_val: validation loops (other seeds).
        frames_per_case: frames taken from each loop (ED, ES and random ones).
        image_size: network input size.
        overrides: fixed generator parameters (e.g. a smaller canvas for speed).
        generate_workers: processes for generation.
        seed: seed of the training set; validation uses ``seed + 1``.
        intensity: intensity normalisation of the network input
            (:func:`~echoquant.segment.preprocess.normalize_intensity`); recorded in
            the exported bundle so that inference applies the same.
        soft_labels: train on label fractions (each structure's share of every
            network pixel) instead of nearest-neighbour class indices; validation
            then scores against the majority labels.
    """

    def __init__(self, cache_dir: str = "outputs/cache", presets: dict[str, float] | None = None, n_train: int = 200,
                 n_val: int = 20, frames_per_case: int = 6, image_size: int = 128, overrides: dict | None = None,
                 generate_workers: int = 2, seed: int = 0, batch_size: int = 16, num_workers: int = 0,
                 augment: float = 1.0, intensity: str = "scale", soft_labels: bool = False) -> None:
        super().__init__(batch_size, num_workers, augment, seed, intensity, soft_labels)
        self.cache_dir = Path(cache_dir)
        self.presets = dict(_plain(presets) or {"human": 0.6, "rodent": 0.4})
        self.n_train, self.n_val, self.per_case = n_train, n_val, frames_per_case
        self.image_size, self.overrides, self.workers = image_size, dict(_plain(overrides) or {}), generate_workers

    def _path(self, split: str, n: int, seed: int) -> Path:
        from echoquant.synth.generate import GENERATOR_VERSION

        # "fractions": caches written before frames carried label fractions are not reused.
        key = json.dumps([split, n, seed, self.per_case, self.image_size, self.presets, self.overrides,
                          GENERATOR_VERSION, "fractions"], sort_keys=True)
        return self.cache_dir / f"synth_{split}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def prepare_data(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for split, n, seed in (("train", self.n_train, self.seed), ("val", self.n_val, self.seed + 1)):
            path = self._path(split, n, seed)
            if not path.exists():
                synth_frames(self.presets, n, seed, self.image_size, self.per_case, self.overrides, self.workers).save(path)

    def setup(self, stage: str | None = None) -> None:
        self.train_arrays = FrameArrays.load(self._path("train", self.n_train, self.seed))
        self.val_arrays = FrameArrays.load(self._path("val", self.n_val, self.seed + 1))


def _folder_arrays(folder: Path, size: int, per_case: int, seed: int) -> FrameArrays:
    from echoquant.io import read_cine

    parts = []
    rng = np.random.default_rng(seed)
    for labels_path in sorted(folder.rglob("*_labels.npz")):
        stem = labels_path.name[: -len("_labels.npz")]
        media = [p for p in labels_path.parent.glob(f"{stem}.*") if p.suffix.lower() in (".dcm", ".avi", ".mp4", "")]
        if not media:
            continue
        cine = read_cine(media[0])
        data = np.load(labels_path)
        labels = data["labels"]
        annotated = set(int(c) for c in data["label_set"]) if "label_set" in data else {1, 2, 3}
        if annotated != {1, 2, 3}:
            # Unannotated classes would be learnt as background; a partial-label loss is needed first.
            raise ValueError(f"{labels_path}: only classes {sorted(annotated)} are annotated (label_set); training "
                             "needs LV cavity, myocardium and LA labels (partial-label training is not supported yet)")
        if labels.shape != cine.frames.shape:
            raise ValueError(f"{labels_path}: labels {labels.shape} do not match frames {cine.frames.shape}")
        labelled = [t for t in range(len(labels)) if labels[t].any()]
        picks = sorted(rng.choice(labelled, size=min(per_case, len(labelled)), replace=False).tolist())
        parts.append(case_frames(cine.frames, labels, cine.fan_mask, picks, size))
    if not parts:
        raise FileNotFoundError(f"no NAME_labels.npz with a matching loop under {folder}")
    return FrameArrays.concat(parts)


class FolderDataModule(_ArraysDataModule):
    """Labelled loops in folders (``NAME.dcm`` + ``NAME_labels.npz``), e.g. your own
    data or the output of the CAMUS / EchoNet-Dynamic adapters.

    Frames whose label map is empty are treated as unlabelled and skipped.
    """

    def __init__(self, train_dir: str, val_dir: str, image_size: int = 128, frames_per_case: int = 10,
                 seed: int = 0, batch_size: int = 16, num_workers: int = 0, augment: float = 1.0,
                 intensity: str = "scale", soft_labels: bool = False) -> None:
        super().__init__(batch_size, num_workers, augment, seed, intensity, soft_labels)
        self.train_dir, self.val_dir = Path(train_dir), Path(val_dir)
        self.image_size, self.per_case = image_size, frames_per_case

    def setup(self, stage: str | None = None) -> None:
        self.train_arrays = _folder_arrays(self.train_dir, self.image_size, self.per_case, self.seed)
        self.val_arrays = _folder_arrays(self.val_dir, self.image_size, self.per_case, self.seed + 1)


class CamusDataModule(FolderDataModule):
    """CAMUS (real, expert-annotated apical 4CH/2CH echo) converted once into ``cache_dir``.

    The conversion (:func:`~echoquant.segment.adapters.convert_camus`) writes every
    case as DICOM, so training frames go through the same reader, sector estimate
    and crop as inference. Training uses the ``train`` split of ``patients.csv``,
    validation (model selection) the ``valid`` split.

    Args:
        root: the CAMUS copy (``patients.csv`` plus the database folders).
        sources: database subfolders to convert, each with whether its header
            spacing is true (``False`` for a copy resampled to squares).
        cache_dir: where the converted cases are kept.
    """

    def __init__(self, root: str, sources: dict[str, bool] | None = None, cache_dir: str = "outputs/cache",
                 image_size: int = 128, frames_per_case: int = 2, seed: int = 0, batch_size: int = 16,
                 num_workers: int = 0, augment: float = 1.0, intensity: str = "scale", soft_labels: bool = False) -> None:
        self.root = Path(root)
        from echoquant.segment.adapters import CAMUS_SOURCES

        self.sources = dict(_plain(sources) or CAMUS_SOURCES)
        key = hashlib.sha1(json.dumps([str(self.root.resolve()), self.sources], sort_keys=True).encode()).hexdigest()[:12]
        self.converted = Path(cache_dir) / f"camus_{key}"
        super().__init__(str(self.converted / "train"), str(self.converted / "valid"), image_size, frames_per_case,
                         seed, batch_size, num_workers, augment, intensity, soft_labels)

    def prepare_data(self) -> None:
        from echoquant.segment.adapters import convert_camus

        done = self.converted / ".complete"
        if done.exists():
            return
        if not (self.root / "patients.csv").is_file():
            raise FileNotFoundError(f"{self.root / 'patients.csv'} not found: point data.root at the CAMUS copy "
                                    "(the folder with patients.csv and the database folders)")
        for folder, calibrated in sorted(self.sources.items()):
            convert_camus(self.root / folder, self.converted, calibrated=calibrated, splits=("train", "valid"))
        done.write_text("converted\n")


class MixedDataModule(_ArraysDataModule):
    """Training frames of several data modules together (e.g. real CAMUS plus
    generated human and rodent loops); validation, and so model selection, on the
    parts named in ``val_parts`` only.

    Args:
        parts: named data modules (their loaders are not used, only their frames).
        val_parts: names of the parts whose validation frames select the model.
    """

    def __init__(self, parts: dict[str, _ArraysDataModule], val_parts: list[str], batch_size: int = 16,
                 num_workers: int = 0, augment: float = 1.0, seed: int = 0, intensity: str = "scale",
                 soft_labels: bool = False) -> None:
        super().__init__(batch_size, num_workers, augment, seed, intensity, soft_labels)
        self.parts = dict(parts)
        self.val_parts = list(_plain(val_parts))
        unknown = sorted(set(self.val_parts) - set(self.parts))
        if not self.val_parts or unknown:
            raise ValueError(f"val_parts must name parts of {sorted(self.parts)}, got {self.val_parts}")

    def prepare_data(self) -> None:
        for name in sorted(self.parts):
            self.parts[name].prepare_data()

    def setup(self, stage: str | None = None) -> None:
        for name in sorted(self.parts):
            self.parts[name].setup(stage)
        self.train_arrays = FrameArrays.concat([self.parts[n].train_arrays for n in sorted(self.parts)])
        self.val_arrays = FrameArrays.concat([self.parts[n].val_arrays for n in self.val_parts])
