"""The imaging sector ("fan") of an echo loop.

Scanners burn text, logos, depth scales, colour bars and ECG traces into the
frames around the scan sector; none of it may reach the network. The region box of
the header (when present and valid) bounds the search; inside it the sector is the
largest connected set of pixels that carry signal *and change over time* (text and
scales are static), closed and made convex (a sector of less than 180 degrees and a
linear-array rectangle are both convex).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from echoquant.io.cine import SectorBox

__all__ = ["estimate_fan_mask"]

# Grey levels: tissue speckle in the far field is dim but above this; black
# background and JPEG ringing are below.
_SIGNAL_LEVEL = 12
# Temporal standard deviation above which a pixel is "moving" (grey levels).
_MOTION_STD = 0.8
_MAX_FRAMES_USED = 48


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _convex_fill(mask: np.ndarray) -> np.ndarray:
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return mask
    hull = cv2.convexHull(points)
    out = np.zeros(mask.shape, dtype=np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out.astype(bool)


def _active_pixels(frames: np.ndarray) -> np.ndarray:
    """Pixels with signal that varies over time (or, for one frame, thick signal)."""
    step = max(1, len(frames) // _MAX_FRAMES_USED)
    sub = frames[::step]
    brightest = sub.max(axis=0)
    signal = brightest >= _SIGNAL_LEVEL
    if len(sub) >= 3:
        moving = sub.std(axis=0, dtype=np.float32) >= _MOTION_STD
        return signal & moving
    # One frame: remove thin strokes (text, scale ticks, trace lines) by opening.
    return ndimage.binary_opening(signal, structure=np.ones((7, 7), dtype=bool))


def estimate_fan_mask(frames: np.ndarray, box: SectorBox | None = None) -> tuple[np.ndarray, bool]:
    """Estimate the scan sector.

    Args:
        frames: ``(T, H, W)`` grayscale frames.
        box: imaging region from the header; the sector is searched inside it.

    Returns:
        ``(mask, estimated)``: the ``(H, W)`` bool mask and whether it was found in
        the pixels (False: the fallback, the box or the whole frame, was used).
    """
    _, height, width = frames.shape
    if box is None:
        box = SectorBox(0, 0, height, width)
    rows, cols = box.slices
    crop = frames[:, rows, cols]
    fallback = np.zeros((height, width), dtype=bool)
    fallback[rows, cols] = True
    if crop.size == 0:
        return fallback, False
    active = _active_pixels(crop)
    # Close gaps in dark cavities and dropout so the sector is one component.
    radius = max(3, min(crop.shape[1:]) // 40)
    closed = ndimage.binary_closing(active, structure=np.ones((2 * radius + 1,) * 2, dtype=bool))
    component = _largest_component(ndimage.binary_fill_holes(closed))
    # A sector covers a good part of the box; a few specks are no sector.
    if component.sum() < 0.05 * component.size:
        return fallback, False
    mask = np.zeros((height, width), dtype=bool)
    mask[rows, cols] = _convex_fill(component)
    return mask, True
