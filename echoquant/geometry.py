"""Plane geometry of the LV shared by the generator (truth) and quantification.

Coordinates are ``(x, y)`` in mm (or pixels where a function says so); a contour is
an ``(N, 2)`` array running from one mitral-annulus hinge point, round the apex, to
the other hinge point. The cavity is the polygon closed by the straight annulus line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DiskVolume",
    "method_of_disks",
    "area_length_volume_ml",
    "polygon_area",
    "polyline_length",
    "farthest_point_from",
    "resample_polyline",
    "line_crossings",
    "polygon_centroid",
    "chord_across",
]


@dataclass(frozen=True)
class DiskVolume:
    """A single-plane method-of-disks measurement.

    Attributes:
        volume_ml: volume in mL (when the contour is in mm).
        long_axis_mm: apex to mid-annulus length.
        diameters_mm: the disk diameters, base to apex.
        apex: the apex point used.
        base_mid: the annulus midpoint used.
    """

    volume_ml: float
    long_axis_mm: float
    diameters_mm: np.ndarray
    apex: np.ndarray
    base_mid: np.ndarray


def polygon_area(points: np.ndarray) -> float:
    """Area of a closed polygon (shoelace), in squared input units."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polyline_length(points: np.ndarray) -> float:
    """Length of an open polyline."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def resample_polyline(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along an open polyline."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(points[:1], n, axis=0)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def farthest_point_from(contour: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The contour point farthest from ``point`` (the apex, seen from mid-annulus)."""
    return contour[int(np.argmax(np.linalg.norm(contour - point, axis=1)))]


def _chord_lengths(polygon: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Total length inside a closed polygon of horizontal lines ``y = level``."""
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    out = np.zeros(len(levels))
    for i, level in enumerate(levels):
        # Half-open crossing rule so a vertex on the line is counted once.
        crosses = (y0 <= level) != (y1 <= level)
        if not crosses.any():
            continue
        t = (level - y0[crosses]) / (y1[crosses] - y0[crosses])
        xs = np.sort(x0[crosses] + t * (x1[crosses] - x0[crosses]))
        out[i] = float(np.sum(xs[1::2] - xs[0::2]))
    return out


def method_of_disks(
    contour: np.ndarray,
    *,
    apex: np.ndarray | None = None,
    n_disks: int = 20,
) -> DiskVolume:
    """Single-plane method of disks (modified Simpson's rule, ASE/EACVI 2015).

    The long axis runs from the midpoint of the mitral annulus (the contour's two
    end points) to the apex; the cavity is cut into ``n_disks`` slices of equal
    height perpendicular to it, each a disk whose diameter is the cavity width at
    the slice's middle.

    Args:
        contour: ``(N, 2)`` endocardial contour in mm, hinge to hinge through the apex.
        apex: apex point; default: the contour point farthest from mid-annulus.
        n_disks: number of disks (20 by the guideline).

    Returns:
        A :class:`DiskVolume` (volume in mL = 1000 mm^3).
    """
    contour = np.asarray(contour, dtype=np.float64)
    if contour.ndim != 2 or contour.shape[1] != 2 or len(contour) < 3:
        raise ValueError(f"contour must be (N>=3, 2), got {contour.shape}")
    if n_disks < 1:
        raise ValueError(f"n_disks must be >= 1, got {n_disks}")
    base_mid = 0.5 * (contour[0] + contour[-1])
    apex = farthest_point_from(contour, base_mid) if apex is None else np.asarray(apex, float)
    axis = apex - base_mid
    length = float(np.linalg.norm(axis))
    if length <= 0:
        raise ValueError("apex coincides with the mid-annulus point; the contour is degenerate")
    # Rotate so the long axis is +y from base (y=0) to apex (y=length).
    uy = axis / length
    ux = np.array([uy[1], -uy[0]])
    local = np.stack([(contour - base_mid) @ ux, (contour - base_mid) @ uy], axis=1)
    h = length / n_disks
    levels = (np.arange(n_disks) + 0.5) * h
    diameters = _chord_lengths(local, levels)
    volume_mm3 = float(np.pi / 4.0 * np.sum(diameters**2) * h)
    return DiskVolume(volume_mm3 / 1000.0, length, diameters, apex, base_mid)


def area_length_volume_ml(contour: np.ndarray, apex: np.ndarray | None = None) -> float:
    """Single-plane area-length volume, 0.85 A^2 / L, in mL for a contour in mm."""
    contour = np.asarray(contour, dtype=np.float64)
    base_mid = 0.5 * (contour[0] + contour[-1])
    apex = farthest_point_from(contour, base_mid) if apex is None else np.asarray(apex, float)
    length = float(np.linalg.norm(apex - base_mid))
    if length <= 0:
        raise ValueError("apex coincides with the mid-annulus point; the contour is degenerate")
    return 0.85 * polygon_area(contour) ** 2 / length / 1000.0


def line_crossings(origin: np.ndarray, direction: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed distances ``t`` (sorted) at which the line ``origin + t * direction``
    (``direction`` a unit vector) crosses the edges of the closed ``polygon``."""
    p0 = np.asarray(polygon, dtype=np.float64)
    p1 = np.roll(p0, -1, axis=0)
    o, d = np.asarray(origin, dtype=np.float64), np.asarray(direction, dtype=np.float64)
    n = np.array([-d[1], d[0]])  # normal of the line
    s0, s1 = (p0 - o) @ n, (p1 - o) @ n
    # Half-open rule: an edge crosses when its ends lie on different sides (a vertex on the line counts once).
    crosses = (s0 <= 0) != (s1 <= 0)
    if not crosses.any():
        return np.zeros(0)
    a = s0[crosses] / (s0[crosses] - s1[crosses])
    pts = p0[crosses] + a[:, None] * (p1[crosses] - p0[crosses])
    return np.sort((pts - o) @ d)


def chord_across(origin: np.ndarray, direction: np.ndarray, polygon: np.ndarray) -> tuple[float, float] | None:
    """The chord of ``polygon`` through ``origin`` along ``direction``: the nearest
    crossings on either side, as ``(t_minus <= 0, t_plus >= 0)``; None when the origin is
    not inside (no crossing on one side)."""
    t = line_crossings(origin, direction, polygon)
    neg, pos = t[t <= 0], t[t >= 0]
    if not len(neg) or not len(pos):
        return None
    return float(neg.max()), float(pos.min())


def polygon_centroid(points: np.ndarray) -> np.ndarray:
    """Area centroid ``(x, y)`` of a closed polygon (what a filled mask's pixel mean approaches)."""
    p = np.asarray(points, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    a = cross.sum() / 2.0
    if abs(a) < 1e-12:
        return p.mean(axis=0)
    return np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (6.0 * a)

