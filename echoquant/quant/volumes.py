"""LV volumes from contours: single-plane method of disks, area-length, biplane."""

from __future__ import annotations

import numpy as np

from echoquant.geometry import area_length_volume_ml, method_of_disks, polyline_length
from echoquant.quant.contour import LVContour

__all__ = ["to_mm", "frame_volumes", "biplane_volume_ml"]


def to_mm(points_px: np.ndarray, spacing_mm: tuple[float, float]) -> np.ndarray:
    """``(x, y)`` pixels to mm with ``(row, col)`` spacing (anisotropic pixels allowed)."""
    return points_px * np.array([spacing_mm[1], spacing_mm[0]])


def frame_volumes(contours: list[LVContour | None], spacing_mm: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """Per-frame volumes and lengths.

    Without calibration, lengths and volumes are computed in pixel units (so
    that ratios such as LVEF and strain still hold) and marked by the key suffix
    ``_px``; with it, in mm and mL.

    Returns:
        ``{"volume_ml"|"volume_px3", "area_length_ml"|..., "long_axis_mm"|"long_axis_px",
        "contour_length_mm"|"contour_length_px"}``, NaN where a frame has no contour.
    """
    n = len(contours)
    vol, al, axis, length = (np.full(n, np.nan) for _ in range(4))
    scale = spacing_mm if spacing_mm is not None else (1.0, 1.0)
    for t, c in enumerate(contours):
        if c is None:
            continue
        pts = to_mm(c.points, scale)
        apex = pts[len(pts) // 2]
        disks = method_of_disks(pts, apex=apex)
        vol[t] = disks.volume_ml
        al[t] = area_length_volume_ml(pts, apex=apex)
        axis[t] = disks.long_axis_mm
        length[t] = polyline_length(pts)
    if spacing_mm is None:
        # method_of_disks returns mm^3 / 1000 for mm input: undo for pixel units.
        return {"volume_px3": vol * 1000.0, "area_length_px3": al * 1000.0,
                "long_axis_px": axis, "contour_length_px": length}
    return {"volume_ml": vol, "area_length_ml": al, "long_axis_mm": axis, "contour_length_mm": length}


def biplane_volume_ml(c4: LVContour, spacing4: tuple[float, float], c2: LVContour, spacing2: tuple[float, float],
                      n_disks: int = 20) -> float:
    """Biplane method of disks (ASE/EACVI 2015) from orthogonal apical 4- and
    2-chamber contours of the same phase: V = pi/4 * sum(a_i * b_i) * L / n, with L
    the longer of the two long axes.
    """
    p4, p2 = to_mm(c4.points, spacing4), to_mm(c2.points, spacing2)
    d4 = method_of_disks(p4, apex=p4[len(p4) // 2], n_disks=n_disks)
    d2 = method_of_disks(p2, apex=p2[len(p2) // 2], n_disks=n_disks)
    length = max(d4.long_axis_mm, d2.long_axis_mm)
    return float(np.pi / 4.0 * np.sum(d4.diameters_mm * d2.diameters_mm) * length / n_disks / 1000.0)
