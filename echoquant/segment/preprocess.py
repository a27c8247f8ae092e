"""Geometry between a cine's pixel grid and the network's input grid.

Frames are cropped to the bounding box of the scan sector (so text, scales and
ECG never reach the network), padded to a square, resized to the network size
and scaled to 0..1 (the input is black outside the sector); predictions go back
through the same box to the cine grid, where everything outside the box is
background and, when asked (:func:`labels_from_network` with a mask), everything
outside the sector too.

Intensity: a bundle says how its network expects grey levels (``"scale"``: grey/255;
``"equalize"``: each frame's histogram equalised over the echo pixels, see
:func:`normalize_intensity`). Training and inference apply the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CropBox", "crop_box_for", "to_network", "to_network_labels", "to_network_fractions", "from_network",
           "labels_from_network", "normalize_intensity", "INTENSITY_MODES"]

INTENSITY_MODES = ("scale", "equalize")


@dataclass(frozen=True)
class CropBox:
    """A square box (may extend past the frame; padded with zeros) in cine pixels."""

    row: int
    col: int
    size: int


def crop_box_for(fan_mask: np.ndarray, margin: float = 0.02) -> CropBox:
    """The square box around the sector (the whole frame if the mask is empty)."""
    rows, cols = np.nonzero(fan_mask)
    if len(rows) == 0:
        h, w = fan_mask.shape
        rows, cols = np.array([0, h - 1]), np.array([0, w - 1])
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    size = int(np.ceil(max(r1 - r0, c1 - c0) * (1 + 2 * margin)))
    rc, cc = (r0 + r1) / 2, (c0 + c1) / 2
    return CropBox(int(round(rc - size / 2)), int(round(cc - size / 2)), size)


def _crop(img: np.ndarray, box: CropBox) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.zeros((box.size, box.size) + img.shape[2:], dtype=img.dtype)
    r0, c0 = max(box.row, 0), max(box.col, 0)
    r1, c1 = min(box.row + box.size, h), min(box.col + box.size, w)
    if r1 > r0 and c1 > c0:
        out[r0 - box.row : r1 - box.row, c0 - box.col : c1 - box.col] = img[r0:r1, c0:c1]
    return out


def to_network(frames: np.ndarray, fan_mask: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """``(T, H, W)`` uint8 frames -> ``(T, 1, size, size)`` float32 in 0..1, sector only."""
    out = np.empty((len(frames), 1, size, size), dtype=np.float32)
    fan = _crop(fan_mask.astype(np.uint8), box)
    for t, f in enumerate(frames):
        crop = _crop(f, box) * fan
        out[t, 0] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return out


def _equalize_frame(levels: np.ndarray) -> np.ndarray:
    """Grey levels 0..255 of one frame -> mid-rank of each level among the frame's
    non-zero pixels, in (0, 1); zero (outside the sector, or black) stays 0."""
    hist = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    hist[0] = 0.0
    total = hist.sum()
    if total == 0:
        return np.zeros(levels.shape, dtype=np.float32)
    lut = (np.cumsum(hist) - 0.5 * hist) / total
    lut[0] = 0.0
    return lut.astype(np.float32)[levels]


def normalize_intensity(x: np.ndarray, mode: str) -> np.ndarray:
    """Network input grey levels (``(..., s, s)`` in 0..1) in a bundle's intensity mode.

    ``"scale"`` returns ``x`` unchanged. ``"equalize"`` replaces every pixel by its
    rank among the frame's non-zero pixels (histogram equalisation on 256 levels),
    so any monotone change of the tone curve (gain, dynamic range, gamma, the
    scanner's grey map, a decoder that shifts every level a little) gives the same
    input: real scanners differ in exactly these, and the synthetic training data
    cannot cover them all.

    Raises:
        ValueError: unknown mode.
    """
    if mode not in INTENSITY_MODES:
        raise ValueError(f"intensity mode must be one of {INTENSITY_MODES}, got {mode!r}")
    if mode == "scale":
        return x
    levels = np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.intp)
    flat = levels.reshape((-1,) + levels.shape[-2:])
    out = np.stack([_equalize_frame(f) for f in flat]) if len(flat) else flat.astype(np.float32)
    return out.reshape(levels.shape)


def to_network_labels(labels: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """``(T, H, W)`` label maps -> ``(T, 1, size, size)`` (nearest neighbour)."""
    out = np.empty((len(labels), 1, size, size), dtype=np.uint8)
    for t, lab in enumerate(labels):
        out[t, 0] = cv2.resize(_crop(lab, box), (size, size), interpolation=cv2.INTER_NEAREST)
    return out


def to_network_fractions(labels: np.ndarray, box: CropBox, size: int, classes: tuple[int, ...]) -> np.ndarray:
    """``(T, H, W)`` label maps -> ``(T, len(classes), size, size)`` float32: the fraction
    of each network pixel that each class covers (area averaging, as the image is
    resized).

    Nearest-neighbour labels on the coarser network grid move every border by up to
    half a network pixel, at random along it; a thin structure (myocardium) loses
    several Dice points to that alone when the labels are compared back on the cine
    grid. Fractions keep the border's sub-pixel position, which the network's
    probabilities, interpolated back to the cine grid, can then reproduce.
    """
    out = np.empty((len(labels), len(classes), size, size), dtype=np.float32)
    for t, lab in enumerate(labels):
        crop = _crop(lab, box)
        for k, c in enumerate(classes):
            out[t, k] = cv2.resize((crop == c).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return out


def from_network(probs: np.ndarray, box: CropBox, shape: tuple[int, int], fan_mask: np.ndarray) -> np.ndarray:
    """``(T, C, s, s)`` probabilities -> ``(T, C, H, W)`` on the cine grid (background
    = 1 outside the sector and outside the box)."""
    t_n, c_n = probs.shape[:2]
    h, w = shape
    out = np.zeros((t_n, c_n, h, w), dtype=np.float32)
    out[:, 0] = 1.0
    r0, c0 = max(box.row, 0), max(box.col, 0)
    r1, c1 = min(box.row + box.size, h), min(box.col + box.size, w)
    for t in range(t_n):
        for c in range(c_n):
            big = cv2.resize(probs[t, c], (box.size, box.size), interpolation=cv2.INTER_LINEAR)
            out[t, c, r0:r1, c0:c1] = big[r0 - box.row : r1 - box.row, c0 - box.col : c1 - box.col]
    outside = ~fan_mask
    out[:, 1:, outside] = 0.0
    out[:, 0, outside] = 1.0
    return out


def labels_from_network(probs: np.ndarray, box: CropBox, shape: tuple[int, int],
                        fan_mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(C, s, s)`` probabilities of one frame -> labels ``(H, W)`` uint8 on the cine grid
    and the probability of each pixel's label there (``(H, W)`` float32, 0 outside).

    The same decision as ``from_network(...).argmax(0)`` (ties aside), made only inside
    the box (and the sector, when ``fan_mask`` is given), one plane at a time: the cine
    frame is often 4-10x the box's network-grid area, and background outside the box
    needs no decision.

    Args:
        probs: class probabilities on the network grid.
        box: the crop box the network saw.
        shape: the cine frame's ``(H, W)``.
        fan_mask: labels outside this mask become background; None keeps the network's
            labels in the whole box, where expert outlines continue a wall or the atrium
            across the sector's edge.
    """
    h, w = shape
    r0, c0 = max(box.row, 0), max(box.col, 0)
    r1, c1 = min(box.row + box.size, h), min(box.col + box.size, w)
    labels = np.zeros((h, w), dtype=np.uint8)
    best = np.zeros((h, w), dtype=np.float32)
    if r1 <= r0 or c1 <= c0:
        return labels, best
    lab, top = labels[r0:r1, c0:c1], best[r0:r1, c0:c1]
    for c in range(probs.shape[0]):
        big = cv2.resize(probs[c], (box.size, box.size), interpolation=cv2.INTER_LINEAR)
        plane = big[r0 - box.row : r1 - box.row, c0 - box.col : c1 - box.col]
        if c == 0:
            top[:] = plane
            continue
        higher = plane > top
        lab[higher] = c
        np.maximum(top, plane, out=top)
    if fan_mask is not None:
        outside = ~fan_mask[r0:r1, c0:c1]
        lab[outside] = 0
        top[outside] = 0.0
    return labels, best
