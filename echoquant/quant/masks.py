"""Clean-up of predicted LV masks before measurement."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["largest_component", "clean_masks", "fill_holes"]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected component of a 2D bool mask (empty stays empty)."""
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``binary_fill_holes`` computed inside the mask's bounding box (plus a one-pixel
    margin): the same result, several times faster on a small LV in a large frame."""
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found or found[0] is None:
        return mask.astype(bool)
    rs, cs = found[0]
    r0, c0 = max(rs.start - 1, 0), max(cs.start - 1, 0)
    r1, c1 = min(rs.stop + 1, mask.shape[0]), min(cs.stop + 1, mask.shape[1])
    out = mask.astype(bool).copy()
    out[r0:r1, c0:c1] = ndimage.binary_fill_holes(mask[r0:r1, c0:c1])
    return out


def clean_masks(masks: np.ndarray, temporal: bool = True) -> np.ndarray:
    """Largest component and filled holes per frame, then a 3-frame temporal
    majority vote that removes single-frame flicker without shifting edges.

    Args:
        masks: ``(T, H, W)`` bool.
        temporal: apply the temporal vote (needs at least 3 frames).

    Returns:
        ``(T, H, W)`` bool.
    """
    out = np.stack([fill_holes(largest_component(m)) for m in masks])
    if temporal and len(out) >= 3:
        votes = out[:-2].astype(np.uint8) + out[1:-1] + out[2:]
        middle = votes >= 2
        out = np.concatenate([out[:1], middle, out[-1:]])
        out = np.stack([fill_holes(largest_component(m)) for m in out])
    return out
