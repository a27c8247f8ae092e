"""Sub-pixel endocardial contours and landmarks (mitral hinge points, apex).

A contour is an ``(N, 2)`` array of ``(x, y)`` pixel positions running from the
hinge point on the screen-left side, round the apex, to the other hinge point
(with the apex shown up). The cavity is that polyline closed by the annulus line.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage import measure

from echoquant.geometry import resample_polyline
from echoquant.quant.masks import mask_box

__all__ = ["LVContour", "closed_border", "contour_from_trace", "extract_contour", "extract_contours", "N_PER_SIDE"]

N_PER_SIDE = 50  # points from each hinge to the apex after resampling


@dataclass
class LVContour:
    """Endocardial contour of one frame, in pixels.

    Attributes:
        points: ``(2 * N_PER_SIDE + 1, 2)`` resampled contour, left hinge -> apex -> right hinge.
        apex: ``(2,)`` apex point (the middle point of ``points``).
        hinges: ``(2, 2)`` left and right mitral hinge points.
        landmark_source: ``"la_interface"`` (from the LA label) or ``"shape"``.
    """

    points: np.ndarray
    apex: np.ndarray
    hinges: np.ndarray
    landmark_source: str

    def shifted(self, offset: np.ndarray) -> LVContour:
        """The same contour moved by ``offset`` ``(x, y)`` pixels."""
        return LVContour(self.points + offset, self.apex + offset, self.hinges + offset, self.landmark_source)


def _closed_contour(mask: np.ndarray) -> np.ndarray | None:
    """Longest iso-contour (x, y) of a bool mask at the pixel-edge level (0.5)."""
    padded = np.pad(mask.astype(np.float32), 1)
    contours = measure.find_contours(padded, 0.5)
    if not contours:
        return None
    c = max(contours, key=len)
    pts = c[:, ::-1] - 1.0  # (row, col) -> (x, y), undo the padding
    if np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    return pts if len(pts) >= 8 else None


def closed_border(mask: np.ndarray) -> np.ndarray | None:
    """The outer border of a mask's largest region as a closed ``(x, y)`` polygon on the
    pixel edges (iso-level 0.5, so its area is the pixel count), or None when empty."""
    return _closed_contour(mask)


def _width_near(points: np.ndarray, centre: np.ndarray, axis: np.ndarray, t: float, half_len: float) -> float:
    """Width of the shape across ``axis`` at axial position ``t`` (-1..1) from the centre."""
    rel = points - centre
    along = rel @ axis
    across = rel @ np.array([-axis[1], axis[0]])
    band = np.abs(along - t * half_len) < 0.08 * half_len
    return float(across[band].max() - across[band].min()) if band.sum() >= 2 else 0.0


def _axis_from_shape(mask: np.ndarray, points: np.ndarray, apex_hint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Long axis (unit, pointing apex -> base) and centroid, from the mask's principal
    axis. The apex is the end nearer ``apex_hint`` (the transducer, in apical views);
    without a hint, the narrower end (a ventricle is blunt at the base)."""
    m = cv2.moments(mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8), binaryImage=True)
    centre = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]])
    # The pixel scatter matrix (the covariance up to a factor): same eigenvectors.
    evals, evecs = np.linalg.eigh(np.array([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]]))
    axis = evecs[:, int(np.argmax(evals))]
    half_len = float(np.abs((points - centre) @ axis).max())
    if apex_hint is not None:
        return (axis if (apex_hint - centre) @ axis < 0 else -axis), centre
    w_pos = _width_near(points, centre, axis, 0.75, half_len)
    w_neg = _width_near(points, centre, axis, -0.75, half_len)
    # axis should point from apex (narrow) to base (wide)
    return (axis if w_pos > w_neg else -axis), centre


# Pixel offsets within 2.5 px: a cavity border point touches the LA when an LA pixel
# lies this close (a 5 x 5 square without its corners).
_NEAR_LA = np.ones((5, 5), dtype=np.uint8)
_NEAR_LA[[0, 0, -1, -1], [0, -1, 0, -1]] = 0


def _hinges_from_la(points: np.ndarray, la: np.ndarray, axis_guess: np.ndarray) -> np.ndarray | None:
    """Hinges as the two ends of the cavity border that touches the LA (within 2.5 px)."""
    if la.sum() < 10:
        return None
    near = cv2.dilate(la.view(np.uint8) if la.dtype == bool else la.astype(np.uint8), _NEAR_LA)
    r = np.clip(np.round(points[:, 1]).astype(int), 0, la.shape[0] - 1)
    c = np.clip(np.round(points[:, 0]).astype(int), 0, la.shape[1] - 1)
    touching = points[near[r, c] > 0]
    if len(touching) < 3:
        return None
    across = np.array([-axis_guess[1], axis_guess[0]])
    proj = touching @ across
    return np.stack([touching[int(np.argmin(proj))], touching[int(np.argmax(proj))]])


def _hinges_from_shape(points: np.ndarray, centre: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The basal corners: on each side, the point furthest towards the base, with a
    bonus for lying far from the axis (so the corner, not the mid-base, wins)."""
    rel = points - centre
    along = rel @ axis
    across = rel @ np.array([-axis[1], axis[0]])
    scale = float(along.max() - along.min()) or 1.0
    out = []
    for side in (-1, 1):
        sel = np.where(across * side > 0)[0]
        score = along[sel] + 0.5 * np.abs(across[sel])
        out.append(points[sel[int(np.argmax(score / scale))]])
    return np.stack(out)


def _open_path(points: np.ndarray, i: int, j: int, apex_idx: int) -> np.ndarray:
    """The part of the closed contour from index i to j that passes the apex."""
    n = len(points)
    forward = [(i + k) % n for k in range(((j - i) % n) + 1)]
    if apex_idx in forward:
        return points[forward]
    backward = [(i - k) % n for k in range(((i - j) % n) + 1)]
    return points[backward]


def extract_contour(cavity: np.ndarray, la: np.ndarray | None = None, apex_hint: np.ndarray | None = None) -> LVContour | None:
    """Contour and landmarks of one frame's LV cavity mask.

    Args:
        cavity: ``(H, W)`` bool LV cavity (cleaned).
        la: ``(H, W)`` bool LA mask, used to find the mitral hinge points when it
            touches the cavity.
        apex_hint: ``(x, y)`` of the transducer in apical views; the apex is the end
            of the cavity nearer to it (used when the LA does not decide).

    Returns:
        The contour, or None for an empty or degenerate mask.
    """
    if cavity.sum() < 20:
        return None
    closed = _closed_contour(cavity)
    if closed is None:
        return None
    axis, centre = _axis_from_shape(cavity, closed, apex_hint)
    hinges, source = None, "shape"
    if la is not None:
        hinges = _hinges_from_la(closed, la, axis)
        across = np.array([-axis[1], axis[0]])
        widest = float(np.ptp(closed @ across))
        # An LA that touches only part of the base gives no hinges; use the shape.
        if hinges is not None and np.linalg.norm(hinges[1] - hinges[0]) < 0.45 * widest:
            hinges = None
        if hinges is not None:
            source = "la_interface"
            # The LA lies beyond the base: orient the axis towards it.
            la_rows, la_cols = np.nonzero(la)
            to_la = np.array([la_cols.mean(), la_rows.mean()]) - centre
            if to_la @ axis < 0:
                axis = -axis
    if hinges is None:
        hinges = _hinges_from_shape(closed, centre, axis)
    base_mid = hinges.mean(axis=0)
    apex_idx = int(np.argmax(np.linalg.norm(closed - base_mid, axis=1)))
    i = int(np.argmin(np.linalg.norm(closed - hinges[0], axis=1)))
    j = int(np.argmin(np.linalg.norm(closed - hinges[1], axis=1)))
    if i == j:
        return None
    path = _open_path(closed, i, j, apex_idx)
    # Orient: first hinge on the screen-left when the apex is shown up. In image
    # coordinates (y down) that hinge has a negative cross product with base -> apex.
    apex = closed[apex_idx]
    up = apex - base_mid
    d = path[0] - base_mid
    if up[0] * d[1] - up[1] * d[0] > 0:
        path = path[::-1]
    k = int(np.argmin(np.linalg.norm(path - apex, axis=1)))
    if k == 0 or k == len(path) - 1:
        return None
    left = resample_polyline(path[: k + 1], N_PER_SIDE + 1)
    right = resample_polyline(path[k:], N_PER_SIDE + 1)
    points = np.concatenate([left, right[1:]])
    return LVContour(points, points[N_PER_SIDE], np.stack([points[0], points[-1]]), source)


def contour_from_trace(trace: np.ndarray) -> LVContour | None:
    """The contour of a trace drawn by a reader: an open ``(x, y)`` polyline from one
    mitral hinge round the apex to the other (as :attr:`LVContour.points` runs). Its ends
    are the hinges and the apex is its point farthest from their midpoint, so a border a
    reader bent keeps the landmarks they placed (re-finding them from the shape could
    take a dent for the mitral opening). None for a degenerate trace."""
    pts = np.asarray(trace, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        return None
    base_mid = (pts[0] + pts[-1]) / 2
    k = int(np.argmax(np.linalg.norm(pts - base_mid, axis=1)))
    if k == 0 or k == len(pts) - 1:
        return None
    up, d = pts[k] - base_mid, pts[0] - base_mid
    if up[0] * d[1] - up[1] * d[0] > 0:  # first hinge on the screen-left, apex up (as extract_contour)
        pts = pts[::-1]
        k = len(pts) - 1 - k
    left = resample_polyline(pts[: k + 1], N_PER_SIDE + 1)
    right = resample_polyline(pts[k:], N_PER_SIDE + 1)
    points = np.concatenate([left, right[1:]])
    return LVContour(points, points[N_PER_SIDE], np.stack([points[0], points[-1]]), "reader")


def extract_contours(cavity: np.ndarray, la: np.ndarray, apex_hint: np.ndarray | None = None) -> list[LVContour | None]:
    """:func:`extract_contour` of every frame of ``(T, H, W)`` cavity and LA masks.

    Each frame is measured inside the box around all cavity and LA pixels of the loop
    (:func:`~echoquant.quant.masks.mask_box`) and the contour shifted back: the same
    result as on the whole frame, several times faster on a small LV in a large frame.
    """
    box = mask_box(cavity | la)
    if box is None:
        return [None] * len(cavity)
    offset = np.array([box[1].start, box[0].start], dtype=np.float64)
    cav, atrium = cavity[:, box[0], box[1]], la[:, box[0], box[1]]
    hint = None if apex_hint is None else np.asarray(apex_hint, dtype=np.float64) - offset
    out: list[LVContour | None] = []
    for c, a in zip(cav, atrium):
        found = extract_contour(c, a if a.any() else None, hint)
        out.append(None if found is None else found.shifted(offset))
    return out
