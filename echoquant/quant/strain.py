"""Longitudinal strain: speckle tracking of myocardial lines, and contour strain.

Tracking: points placed at ED on the endocardial line (just inside the
myocardium) and on the mid-wall line are moved frame by frame by pyramidal
Lucas-Kanade on speckle-sized windows (all points of a line in one OpenCV call),
checked forward-backward, regularised along the line, and de-drifted over complete
beats. Lagrangian strain is the change of the line's
length relative to ED; regional strain the same for each third of each wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates

from echoquant.quant.contour import N_PER_SIDE

__all__ = ["TrackedLine", "track_line", "line_strain_pct", "regional_strain_pct", "offset_line", "snap_to_contour",
           "SEGMENT_SLICES", "MAX_FB_FAILURE"]

# Tracking whose steps failed the forward-backward check more often than this (fraction)
# is not used: strain is withheld and volumes/areas come from the segmentation alone.
MAX_FB_FAILURE = 0.3

# Index ranges of the six segments on a resampled contour (left hinge -> apex -> right hinge).
_THIRD = N_PER_SIDE // 3
SEGMENT_SLICES = (
    slice(0, _THIRD + 1),                                   # left basal
    slice(_THIRD, 2 * _THIRD + 1),                          # left mid
    slice(2 * _THIRD, N_PER_SIDE + 1),                      # left apical
    slice(N_PER_SIDE, N_PER_SIDE + (N_PER_SIDE - 2 * _THIRD) + 1),  # right apical
    slice(N_PER_SIDE + (N_PER_SIDE - 2 * _THIRD), 2 * N_PER_SIDE - _THIRD + 1),  # right mid
    slice(2 * N_PER_SIDE - _THIRD, 2 * N_PER_SIDE + 1),     # right basal
)


@dataclass
class TrackedLine:
    """Positions ``(frames, points, 2)`` of a tracked line from frame ``start``, and
    the share of point-steps that failed the forward-backward check."""

    positions: np.ndarray
    start: int
    fb_failure: float


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(a, b, None)


def _block_match(a: np.ndarray, b: np.ndarray, pts: np.ndarray, half: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Displacement of each point from frame ``a`` to ``b`` by normalised
    cross-correlation of a ``(2 half + 1)^2`` block, with parabolic sub-pixel peaks.

    Returns:
        ``(steps (N, 2), peak correlation (N,))``.
    """
    h, w = a.shape
    pad = half + radius + 1
    ap = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    bp = cv2.copyMakeBorder(b, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    steps = np.zeros((len(pts), 2))
    score = np.zeros(len(pts))
    for i, (x, y) in enumerate(pts):
        cx = int(round(min(max(x, 0), w - 1))) + pad
        cy = int(round(min(max(y, 0), h - 1))) + pad
        tpl = ap[cy - half : cy + half + 1, cx - half : cx + half + 1]
        win = bp[cy - half - radius : cy + half + radius + 1, cx - half - radius : cx + half + radius + 1]
        if tpl.std() < 1e-3:
            continue
        res = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        dx, dy = float(px), float(py)
        if 0 < px < res.shape[1] - 1:
            l, c, r = res[py, px - 1], res[py, px], res[py, px + 1]
            den = l - 2 * c + r
            dx += 0.5 * (l - r) / den if den < 0 else 0.0
        if 0 < py < res.shape[0] - 1:
            u, c, d = res[py - 1, px], res[py, px], res[py + 1, px]
            den = u - 2 * c + d
            dy += 0.5 * (u - d) / den if den < 0 else 0.0
        steps[i] = (dx - radius, dy - radius)
        score[i] = peak
    return steps, score


def _sample(flow: np.ndarray, pts: np.ndarray) -> np.ndarray:
    coords = np.stack([pts[:, 1], pts[:, 0]])
    fx = map_coordinates(flow[..., 0], coords, order=1, mode="nearest")
    fy = map_coordinates(flow[..., 1], coords, order=1, mode="nearest")
    return np.stack([fx, fy], axis=1)


def offset_line(points: np.ndarray, distance_px: np.ndarray | float) -> np.ndarray:
    """Move contour points outwards (away from the cavity) along their normals."""
    tangent = np.gradient(points, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    centre = points.mean(axis=0)
    # Orient each normal away from the cavity's centre of mass.
    sign = np.sign(np.sum((points - centre) * normal, axis=1))
    sign[sign == 0] = 1.0
    return points + normal * sign[:, None] * np.asarray(distance_px, dtype=np.float64).reshape(-1, 1)


def _lk_steps(prev: np.ndarray, cur: np.ndarray, pts: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps of all points from ``prev`` to ``cur`` by pyramidal Lucas-Kanade (one
    OpenCV call for the whole line, forward then backward).

    Returns:
        ``(steps (N, 2), forward-backward error (N,))``; a point OpenCV lost has an
        infinite error.
    """
    p0 = pts.astype(np.float32).reshape(-1, 1, 2)
    kw = {"winSize": (window, window), "maxLevel": _LK_LEVELS, "criteria": _LK_CRITERIA}
    p1, found_fwd, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p0, None, **kw)
    back, found_bwd, _ = cv2.calcOpticalFlowPyrLK(cur, prev, p1, None, **kw)
    err = np.linalg.norm((back - p0).reshape(-1, 2), axis=1).astype(np.float64)
    err[(found_fwd.ravel() == 0) | (found_bwd.ravel() == 0)] = np.inf
    return (p1 - p0).reshape(-1, 2).astype(np.float64), err


# Pyramid levels above the full image, and the stop rule of each level's iterations.
_LK_LEVELS = 2
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.003)


def _replace_failed(step: np.ndarray, bad: np.ndarray) -> None:
    """Give each failed point the median step of its four nearest good neighbours
    along the line, in place (left as is when fewer than three are good)."""
    good = np.flatnonzero(~bad)
    if not bad.any() or len(good) < 3:
        return
    failed = np.flatnonzero(bad)
    near = good[np.argsort(np.abs(good[None, :] - failed[:, None]), axis=1, kind="stable")[:, :4]]
    step[failed] = np.median(step[near], axis=1)


def _roi(points: np.ndarray, shape: tuple[int, int], margin: int) -> tuple[slice, slice]:
    """The box round the points plus ``margin`` pixels, inside the frame."""
    h, w = shape
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + margin + 1
    return slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w))


def track_line(frames: np.ndarray, points: np.ndarray, start: int, stop: int, *, fb_threshold_px: float = 1.0,
               smooth_points: float = 2.0, drift_correct: bool = True, method: str = "lk") -> TrackedLine:
    """Track a line of points from frame ``start`` to ``stop`` (inclusive).

    Args:
        frames: ``(T, H, W)`` uint8 grey frames.
        points: ``(N, 2)`` ``(x, y)`` positions at ``start``.
        start: first frame (ED).
        stop: last frame (the next ED for a complete beat, else ES or the last frame).
        fb_threshold_px: forward-backward error above which a point's step is
            replaced by its neighbours' median.
        smooth_points: Gaussian sigma (in points) of displacement smoothing along the line.
        drift_correct: remove linearly the residual displacement at ``stop`` (use only
            when ``stop`` is the next ED, where the line should be back where it started).
        method: ``"lk"`` (pyramidal Lucas-Kanade on a speckle-sized window, all points
            in one call per frame: the default), ``"block"`` (normalised
            cross-correlation block matching, one call per point: the former default,
            kept as the reference it was validated against, several times slower;
            ``docs/tracking_eval.md``) or
            ``"dis"`` (OpenCV DIS dense optical flow, smoothed across the blood-tissue
            border, so it underestimates strain).

    Returns:
        The tracked line.
    """
    if method not in ("lk", "block", "dis"):
        raise ValueError(f"method must be 'lk', 'block' or 'dis', got {method!r}")
    extent = float(np.ptp(points, axis=0).max())
    half = int(np.clip(round(0.05 * extent), 4, 16))
    radius = int(np.clip(round(0.05 * extent), 3, 16))
    # Lucas-Kanade runs on a box round the line: wall motion within a beat stays
    # far inside this margin, and the image pyramids of a small box are cheap.
    rows, cols = _roi(points, frames.shape[1:], int(0.35 * extent) + 4 * half + 2) if method == "lk" \
        else (slice(None), slice(None))
    offset = np.array([cols.start or 0, rows.start or 0], dtype=np.float64)
    pos = [points.astype(np.float64) - offset]
    failures, total = 0, 0
    prev = frames[start, rows, cols]
    for t in range(start + 1, stop + 1):
        cur = frames[t, rows, cols]
        p = pos[-1]
        if method == "lk":
            step, err = _lk_steps(prev, cur, p, 2 * half + 1)
        elif method == "block":
            step, _ = _block_match(prev, cur, p, half, radius)
            back, _ = _block_match(cur, prev, p + step, half, radius)
            err = np.linalg.norm(step + back, axis=1)
        else:
            fwd, bwd = _flow(prev, cur), _flow(cur, prev)
            step = _sample(fwd, p)
            err = np.linalg.norm(step + _sample(bwd, p + step), axis=1)
        bad = err > fb_threshold_px
        failures += int(bad.sum())
        total += len(p)
        _replace_failed(step, bad)
        if smooth_points > 0:
            step = gaussian_filter1d(step, smooth_points, axis=0, mode="nearest")
        pos.append(p + step)
        prev = cur
    positions = np.stack(pos) + offset
    if drift_correct and len(positions) > 2:
        drift = positions[-1] - positions[0]
        w = np.linspace(0.0, 1.0, len(positions))[:, None, None]
        positions = positions - w * drift[None]
    return TrackedLine(positions, start, failures / max(total, 1))


def _length(line: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Polyline length of ``(..., N, 2)`` positions after scaling x and y."""
    d = np.diff(line * scale, axis=-2)
    return np.linalg.norm(d, axis=-1).sum(axis=-1)


def line_strain_pct(positions: np.ndarray, spacing_mm: tuple[float, float] | None = None, *,
                    smooth_points: float = 3.0, node_step: int = 5) -> np.ndarray:
    """Lagrangian strain (%) of a tracked line relative to its first frame.

    Tracking noise roughens the line and a rough line is longer than a smooth one,
    which would bias strain towards zero; so the length is measured on the line
    smoothed along its length and through nodes every ``node_step`` points.
    """
    scale = np.array([1.0, 1.0]) if spacing_mm is None else np.array([spacing_mm[1], spacing_mm[0]])
    pos = gaussian_filter1d(positions, smooth_points, axis=-2, mode="nearest") if smooth_points > 0 else positions
    n = pos.shape[-2]
    nodes = np.unique(np.r_[np.arange(0, n, max(1, node_step)), n - 1])
    length = _length(pos[..., nodes, :], scale)
    return 100.0 * (length - length[0]) / length[0]


def regional_strain_pct(positions: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> np.ndarray:
    """``(6, frames)`` strain curves of the six segments."""
    # Smooth the whole line first so segment borders see the same smoothing.
    smooth = gaussian_filter1d(positions, 3.0, axis=-2, mode="nearest")
    return np.stack([line_strain_pct(smooth[:, s], spacing_mm, smooth_points=0, node_step=4) for s in SEGMENT_SLICES])


def snap_to_contour(points: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """Project tracked points onto a frame's segmented contour, keeping their order.

    The end points go to the contour's ends (the mitral hinges); the others to
    their nearest position on the polyline, made monotonic along it so that the
    line cannot fold. Tracking then decides *which* material point is where along
    the border, the segmentation *where* the border is.

    Args:
        points: ``(N, 2)`` tracked positions, hinge -> apex -> hinge.
        contour: ``(M, 2)`` segmented contour of the same frame, same orientation.

    Returns:
        ``(N, 2)`` positions on the contour.
    """
    a, b = contour[:-1], contour[1:]
    ab = b - a
    seg_len2 = np.maximum((ab**2).sum(axis=1), 1e-12)
    rel = points[:, None, :] - a[None, :, :]
    t = np.clip((rel * ab[None]).sum(axis=2) / seg_len2[None], 0.0, 1.0)
    proj = a[None] + t[..., None] * ab[None]
    d2 = ((points[:, None, :] - proj) ** 2).sum(axis=2)
    best = np.argmin(d2, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(np.sqrt(seg_len2))])
    arc = cum[best] + t[np.arange(len(points)), best] * np.sqrt(seg_len2[best])
    arc[0], arc[-1] = 0.0, cum[-1]
    arc = np.maximum.accumulate(arc)
    return np.stack([np.interp(arc, cum, contour[:, 0]), np.interp(arc, cum, contour[:, 1])], axis=1)
