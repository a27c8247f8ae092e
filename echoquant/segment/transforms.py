"""Echo-specific augmentations (MONAI style: array transform plus dict wrapper)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

__all__ = ["RandSpeckle", "RandSpeckled", "RandDepthGain", "RandDepthGaind", "RandApexRotate", "RandApexRotated",
           "RandSectorCrop", "RandSectorCropd", "sector_apex", "train_transforms"]


class RandSpeckle(RandomizableTransform):
    """Multiplicative speckle-like noise: ``img * Rayleigh-ish(1, sigma)``, so that the
    network does not learn one generator's speckle statistics.

    Args:
        prob: probability of applying.
        sigma_range: range of the noise's relative standard deviation.
    """

    def __init__(self, prob: float = 0.3, sigma_range: tuple[float, float] = (0.05, 0.3)) -> None:
        RandomizableTransform.__init__(self, prob)
        if sigma_range[0] < 0 or sigma_range[1] < sigma_range[0]:
            raise ValueError(f"sigma_range must be increasing and non-negative, got {sigma_range}")
        self.sigma_range = sigma_range
        self.sigma = 0.0

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self.sigma = float(self.R.uniform(*self.sigma_range))

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        noise = torch.as_tensor(self.R.normal(1.0, self.sigma, size=tuple(img.shape)), dtype=img.dtype)
        return torch.clamp(img * noise.clamp(min=0), 0.0, 1.0)


class _RandDictWrapper(RandomizableTransform, MapTransform):
    """Applies one randomised array transform, drawn once, to every key."""

    def __init__(self, keys: KeysCollection, prob: float, transform: RandomizableTransform) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.t = transform

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.t.set_random_state(seed, state)
        return self

    def _apply(self, d: dict[Hashable, torch.Tensor]) -> None:
        """Apply the drawn transform to every key, in place."""
        for key in self.key_iterator(d):
            d[key] = self.t(d[key], randomize=False)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.t.randomize()
        self._apply(d)
        return d


class RandSpeckled(_RandDictWrapper):
    """Dict wrapper of :class:`RandSpeckle`."""

    def __init__(self, keys: KeysCollection, prob: float = 0.3, sigma_range: tuple[float, float] = (0.05, 0.3)) -> None:
        super().__init__(keys, prob, RandSpeckle(1.0, sigma_range))


class RandDepthGain(RandomizableTransform):
    """A smooth gain ramp along depth (rows), as an untuned time-gain compensation gives.

    Args:
        prob: probability of applying.
        max_db: largest gain change from top to bottom, in dB of the 0..1 image's
            assumed 60 dB display range.
    """

    def __init__(self, prob: float = 0.3, max_db: float = 10.0) -> None:
        RandomizableTransform.__init__(self, prob)
        self.max_db = max_db
        self.db = 0.0

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self.db = float(self.R.uniform(-self.max_db, self.max_db))

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        rows = img.shape[-2]
        ramp = torch.linspace(0.0, self.db / 60.0, rows, dtype=img.dtype).reshape(-1, 1)
        return torch.clamp(img + ramp * (img > 0), 0.0, 1.0)


class RandDepthGaind(_RandDictWrapper):
    """Dict wrapper of :class:`RandDepthGain`."""

    def __init__(self, keys: KeysCollection, prob: float = 0.3, max_db: float = 10.0) -> None:
        super().__init__(keys, prob, RandDepthGain(1.0, max_db))


def sector_apex(img: torch.Tensor) -> tuple[float, float]:
    """The transducer position ``(row, col)`` of a ``(C, H, W)`` frame: the middle of
    the topmost row that carries signal (the centre of the top edge when empty)."""
    signal = torch.as_tensor(img)[0] > 0
    rows = torch.nonzero(signal.any(dim=1))
    if len(rows) == 0:
        return 0.0, (img.shape[-1] - 1) / 2.0
    top = int(rows[0])
    cols = torch.nonzero(signal[top]).float()
    return float(top), float(cols.mean())


def _rotate_about(x: torch.Tensor, angle: float, apex: tuple[float, float], mode: str) -> torch.Tensor:
    """Rotate ``(C, H, W)`` by ``angle`` radians about ``apex`` (pixels), zeros outside."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    # Normalised coordinates of align_corners=False: u = (2 * col + 1) / w - 1.
    pu, pv = (2 * apex[1] + 1) / w - 1, (2 * apex[0] + 1) / h - 1
    c, s = float(np.cos(angle)), float(np.sin(angle))
    # Sampling grid: input = R (output - p) + p, with the aspect ratio kept (w / h).
    a = torch.tensor([[c, -s * h / w], [s * w / h, c]], dtype=torch.float32)
    p = torch.tensor([pu, pv], dtype=torch.float32)
    theta = torch.cat([a, (p - a @ p)[:, None]], dim=1)[None]
    xf = torch.as_tensor(x).float()[None]
    grid = F.affine_grid(theta, list(xf.shape), align_corners=False)
    out = F.grid_sample(xf, grid, mode=mode, padding_mode="zeros", align_corners=False)[0]
    return out.to(torch.as_tensor(x).dtype)


class RandApexRotate(RandomizableTransform):
    """Rotation about the transducer (the sector's apex), as a different probe angle
    gives: the LV axis tilts while the apex stays at the top.

    Args:
        prob: probability of applying.
        max_deg: largest rotation either way, degrees.
    """

    def __init__(self, prob: float = 0.3, max_deg: float = 15.0) -> None:
        RandomizableTransform.__init__(self, prob)
        if max_deg < 0:
            raise ValueError(f"max_deg must be non-negative, got {max_deg}")
        self.max_deg = max_deg
        self.angle = 0.0

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self.angle = float(np.deg2rad(self.R.uniform(-self.max_deg, self.max_deg)))

    def __call__(self, img: torch.Tensor, apex: tuple[float, float] | None = None, mode: str = "bilinear",
                 randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        return _rotate_about(img, self.angle, apex if apex is not None else sector_apex(img), mode)


class RandSectorCrop(RandomizableTransform):
    """A narrower and shallower sector (another sector width or depth setting): pixels
    outside a random fraction of the sector's half-angle or depth become background,
    in the image and, as at inference, in the labels.

    Args:
        prob: probability of applying.
        angle_range: kept fraction of the half-angle.
        depth_range: kept fraction of the deepest signal's distance from the apex.
    """

    def __init__(self, prob: float = 0.2, angle_range: tuple[float, float] = (0.7, 1.0),
                 depth_range: tuple[float, float] = (0.8, 1.0)) -> None:
        RandomizableTransform.__init__(self, prob)
        for name, (lo, hi) in (("angle_range", angle_range), ("depth_range", depth_range)):
            if not 0 < lo <= hi <= 1:
                raise ValueError(f"{name} must satisfy 0 < low <= high <= 1, got {(lo, hi)}")
        self.angle_range, self.depth_range = angle_range, depth_range
        self.angle_frac = self.depth_frac = 1.0

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self.angle_frac = float(self.R.uniform(*self.angle_range))
        self.depth_frac = float(self.R.uniform(*self.depth_range))

    def keep_mask(self, img: torch.Tensor, apex: tuple[float, float]) -> torch.Tensor:
        """``(H, W)`` bool: inside the narrowed sector of ``img``."""
        h, w = img.shape[-2:]
        rows = torch.arange(h, dtype=torch.float32)[:, None] - apex[0]
        cols = torch.arange(w, dtype=torch.float32)[None, :] - apex[1]
        radius = torch.sqrt(rows**2 + cols**2)
        angle = torch.atan2(cols, rows.clamp(min=1e-3))
        signal = torch.as_tensor(img)[0] > 0
        if not signal.any():
            return torch.ones((h, w), dtype=torch.bool)
        half = float(angle[signal].abs().max())
        depth = float(radius[signal].max())
        return (angle.abs() <= half * self.angle_frac) & (radius <= depth * self.depth_frac)

    def __call__(self, img: torch.Tensor, keep: torch.Tensor | None = None, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        keep = keep if keep is not None else self.keep_mask(img, sector_apex(img))
        return img * keep.to(torch.as_tensor(img).dtype)


class RandApexRotated(_RandDictWrapper):
    """Dict wrapper of :class:`RandApexRotate`: the apex is found on ``image_key`` and the
    same rotation applied to every key (the other keys sampled with ``label_mode``:
    ``nearest`` for class indices, ``bilinear`` for class fractions)."""

    def __init__(self, keys: KeysCollection, prob: float = 0.3, max_deg: float = 15.0, image_key: str = "image",
                 label_mode: str = "nearest") -> None:
        super().__init__(keys, prob, RandApexRotate(1.0, max_deg))
        self.image_key, self.label_mode = image_key, label_mode

    def _apply(self, d: dict[Hashable, torch.Tensor]) -> None:
        apex = sector_apex(d[self.image_key])
        for key in self.key_iterator(d):
            mode = "bilinear" if key == self.image_key else self.label_mode
            d[key] = self.t(d[key], apex=apex, mode=mode, randomize=False)


class RandSectorCropd(_RandDictWrapper):
    """Dict wrapper of :class:`RandSectorCrop`: the sector is measured on ``image_key`` and
    the same narrowed sector applied to every key."""

    def __init__(self, keys: KeysCollection, prob: float = 0.2, angle_range: tuple[float, float] = (0.7, 1.0),
                 depth_range: tuple[float, float] = (0.8, 1.0), image_key: str = "image") -> None:
        super().__init__(keys, prob, RandSectorCrop(1.0, angle_range, depth_range))
        self.image_key = image_key

    def _apply(self, d: dict[Hashable, torch.Tensor]) -> None:
        keep = self.t.keep_mask(d[self.image_key], sector_apex(d[self.image_key]))
        for key in self.key_iterator(d):
            d[key] = self.t(d[key], keep=keep, randomize=False)


def train_transforms(strength: float = 1.0, keys: Sequence[str] = ("image", "label"), soft_labels: bool = False):
    """Augmentations for what differs between scanners and patients: intensity,
    gamma, contrast, noise, blur, speckle, depth gain, rotation, scale, elastic
    deformation, rotation about the transducer, sector crop, depth change (zoom) and
    left-right flip (vendors show the LV on either side).

    Args:
        strength: scales every augmentation's probability.
        keys: the image and label keys.
        soft_labels: the label holds class fractions (resampled bilinearly) instead of
            class indices (nearest neighbour).
    """
    from monai.transforms import (
        Compose, Rand2DElasticd, RandAdjustContrastd, RandAffined, RandFlipd, RandGaussianNoised,
        RandGaussianSmoothd, RandScaleIntensityd, RandShiftIntensityd, RandZoomd,
    )

    img, lab = keys
    s = strength
    lab_mode = "bilinear" if soft_labels else "nearest"
    return Compose([
        RandFlipd(keys=[img, lab], spatial_axis=1, prob=0.5),
        RandApexRotated(keys=[img, lab], prob=0.3 * s, max_deg=15.0, image_key=img, label_mode=lab_mode),
        RandSectorCropd(keys=[img, lab], prob=0.2 * s, image_key=img),
        RandAffined(keys=[img, lab], prob=0.7 * s, rotate_range=0.3, scale_range=(0.15, 0.15),
                    translate_range=(12, 12), mode=("bilinear", lab_mode), padding_mode="zeros"),
        RandZoomd(keys=[img, lab], prob=0.3 * s, min_zoom=0.8, max_zoom=1.3, mode=("bilinear", lab_mode),
                  keep_size=True),
        Rand2DElasticd(keys=[img, lab], prob=0.2 * s, spacing=(32, 32), magnitude_range=(0, 2),
                       mode=("bilinear", lab_mode), padding_mode="zeros"),
        RandAdjustContrastd(keys=[img], prob=0.4 * s, gamma=(0.6, 1.7)),
        RandScaleIntensityd(keys=[img], prob=0.4 * s, factors=0.4),
        RandShiftIntensityd(keys=[img], prob=0.2 * s, offsets=0.05),
        RandDepthGaind(keys=[img], prob=0.3 * s),
        RandSpeckled(keys=[img], prob=0.3 * s),
        RandGaussianSmoothd(keys=[img], prob=0.2 * s, sigma_x=(0.3, 1.2), sigma_y=(0.3, 1.2)),
        RandGaussianNoised(keys=[img], prob=0.3 * s, std=0.03),
    ])
