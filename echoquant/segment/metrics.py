"""Segmentation metrics shared by every evaluation (generated suites, CAMUS, real stills)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["surface_metrics"]


def surface_metrics(pred: np.ndarray, truth: np.ndarray, spacing: float | None) -> tuple[float, float, float]:
    """Dice, 95th-percentile Hausdorff and symmetric mean contour distance (``spacing``
    units) of two bool masks; the distances are NaN when either mask is empty or the
    spacing is unknown (None: no physical distance to report)."""
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    p = torch.from_numpy(pred)[None, None].float()
    t = torch.from_numpy(truth)[None, None].float()
    inter = float((pred & truth).sum())
    dice = 2 * inter / max(float(pred.sum() + truth.sum()), 1.0)
    if spacing is None or not pred.any() or not truth.any():
        return dice, float("nan"), float("nan")
    hd = float(compute_hausdorff_distance(p, t, percentile=95, spacing=spacing)[0, 0])
    mcd = float(compute_average_surface_distance(p, t, symmetric=True, spacing=spacing)[0, 0])
    return dice, hd, mcd
