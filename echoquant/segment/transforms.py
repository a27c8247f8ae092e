"""Echo-specific augmentations (MONAI style: array transform plus dict wrapper)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

__all__ = ["RandSpeckle", "RandSpeckled", "RandDepthGain", "RandDepthGaind", "train_transforms"]


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

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.t.randomize()
        for key in self.key_iterator(d):
            d[key] = self.t(d[key], randomize=False)
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


def train_transforms(strength: float = 1.0, keys: Sequence[str] = ("image", "label")):
    """Augmentations for what differs between scanners and patients: intensity,
    gamma, contrast, noise, blur, speckle, depth gain, rotation, scale, elastic
    deformation, sector crop / depth change (zoom) and left-right flip (vendors show
    the LV on either side)."""
    from monai.transforms import (
        Compose, Rand2DElasticd, RandAdjustContrastd, RandAffined, RandFlipd, RandGaussianNoised,
        RandGaussianSmoothd, RandScaleIntensityd, RandShiftIntensityd, RandZoomd,
    )

    img, lab = keys
    s = strength
    return Compose([
        RandFlipd(keys=[img, lab], spatial_axis=1, prob=0.5),
        RandAffined(keys=[img, lab], prob=0.7 * s, rotate_range=0.3, scale_range=(0.15, 0.15),
                    translate_range=(12, 12), mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandZoomd(keys=[img, lab], prob=0.3 * s, min_zoom=0.8, max_zoom=1.3, mode=("bilinear", "nearest"),
                  keep_size=True),
        Rand2DElasticd(keys=[img, lab], prob=0.2 * s, spacing=(32, 32), magnitude_range=(0, 2),
                       mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandAdjustContrastd(keys=[img], prob=0.4 * s, gamma=(0.6, 1.7)),
        RandScaleIntensityd(keys=[img], prob=0.4 * s, factors=0.4),
        RandShiftIntensityd(keys=[img], prob=0.2 * s, offsets=0.05),
        RandDepthGaind(keys=[img], prob=0.3 * s),
        RandSpeckled(keys=[img], prob=0.3 * s),
        RandGaussianSmoothd(keys=[img], prob=0.2 * s, sigma_x=(0.3, 1.2), sigma_y=(0.3, 1.2)),
        RandGaussianNoised(keys=[img], prob=0.3 * s, std=0.03),
    ])
