"""What segmentation hands to quantification: the :class:`Segmentation` of a loop and
the label values of its maps.

Torch-free (``echoquant.segment`` is a namespace package without an ``__init__``), so
``echoquant.quant`` reads this type without loading the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Segmentation", "LABEL_NAMES", "LV_CAVITY", "LV_MYOCARDIUM", "LA", "AREA_LEVELS"]

LV_CAVITY = 1
LV_MYOCARDIUM = 2
LA = 3
LABEL_NAMES = {0: "background", LV_CAVITY: "lv_cavity", LV_MYOCARDIUM: "lv_myocardium", LA: "la"}
# LV probability levels at which predictors measure the cavity's area (see
# ``Segmentation.lv_area_levels``): a sure network's cavity barely changes between
# them, an unsure one's border moves. Intervals come from the spread.
AREA_LEVELS = (0.75, 0.5, 0.25)


@dataclass
class Segmentation:
    """Per-frame labels on the cine's own pixel grid (CAMUS convention).

    Attributes:
        labels: ``(T, H, W)`` uint8: 0 background, 1 LV cavity, 2 LV myocardium, 3 LA.
        probabilities: optional ``(T, C, H, W)`` float class probabilities (large:
            predictors keep only ``frame_confidence`` by default).
        model: name of what produced it (``"truth"`` for ground truth).
        frame_confidence: optional ``(T,)`` mean probability of the LV class inside
            the predicted LV.
        lv_area_levels: optional ``(T, 3)`` area (any pixel unit) of the region where the
            LV probability is at least each of :data:`AREA_LEVELS`: the border's
            uncertainty, from which measurement intervals are made.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    model: str = "unknown"
    frame_confidence: np.ndarray | None = None
    lv_area_levels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.labels.ndim != 3:
            raise ValueError(f"labels must be (T, H, W), got shape {self.labels.shape}")
        if self.probabilities is not None and (
            self.probabilities.ndim != 4
            or self.probabilities.shape[0] != self.labels.shape[0]
            or self.probabilities.shape[2:] != self.labels.shape[1:]
        ):
            raise ValueError(
                f"probabilities must be (T, C, H, W) matching labels {self.labels.shape}, "
                f"got {self.probabilities.shape}"
            )
        if self.lv_area_levels is not None and self.lv_area_levels.shape != (self.labels.shape[0], len(AREA_LEVELS)):
            raise ValueError(f"lv_area_levels must be (T, {len(AREA_LEVELS)}), got {self.lv_area_levels.shape}")

    @property
    def lv_masks(self) -> np.ndarray:
        """``(T, H, W)`` bool LV cavity."""
        return self.labels == LV_CAVITY

    def confidence(self) -> np.ndarray | None:
        """``(T,)`` mean probability of the predicted class inside the LV cavity
        (None without probabilities)."""
        if self.frame_confidence is not None:
            return self.frame_confidence
        if self.probabilities is None:
            return None
        p = self.probabilities[:, LV_CAVITY]
        m = self.lv_masks
        out = np.zeros(len(m))
        for t in range(len(m)):
            out[t] = float(p[t][m[t]].mean()) if m[t].any() else 0.0
        return out
