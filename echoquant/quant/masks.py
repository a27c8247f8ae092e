"""Clean-up of predicted LV masks before measurement."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["largest_component", "clean_masks"]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected component of a 2D bool mask (empty stays empty)."""
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def clean_masks(masks: np.ndarray, temporal: bool = True) -> np.ndarray:
    """Largest component and filled holes per frame, then a 3-frame temporal
    majority vote that removes single-frame flicker without shifting edges.

    Args:
        masks: ``(T, H, W)`` bool.
        temporal: apply the temporal vote (needs at least 3 frames).

    Returns:
        ``(T, H, W)`` bool.
    """
    out = np.stack([ndimage.binary_fill_holes(largest_component(m)) for m in masks])
    if temporal and len(out) >= 3:
        votes = out[:-2].astype(np.uint8) + out[1:-1] + out[2:]
        middle = votes >= 2
        out = np.concatenate([out[:1], middle, out[-1:]])
        out = np.stack([ndimage.binary_fill_holes(largest_component(m)) for m in out])
    return out
