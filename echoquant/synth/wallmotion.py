"""Exact wall-motion truth of a generated loop.

The generator moves every tissue point by a known map, so the endocardium and
epicardium at ED and ES are known as *material* points. Their exact strain, inward
excursion and thickening go through the same rule as a measurement
(:func:`echoquant.quant.wallmotion.segment_wall_motion`): the truth is what that rule
says about the true motion, and a disagreement with a measured class is measurement
error, never a different definition.

Segments are given in *screen order* (the screen-left wall first with the apex shown
up), as a measured contour runs, so that a mirrored acquisition compares the same
physical wall; ``names`` says which anatomical segment each is.
"""

from __future__ import annotations

import numpy as np

from echoquant.quant.contour import N_PER_SIDE
from echoquant.quant.strain import SEGMENT_SLICES
from echoquant.quant.wallmotion import WallMotion, segment_wall_motion, summarise_wall_motion

__all__ = ["wall_motion_truth", "loop_wall_motion_truth", "screen_order"]


def _material_parameters(points: np.ndarray, n_per_side: int) -> np.ndarray:
    """Fractional indices of ``2 n + 1`` points equally spaced in arc length on each
    side (hinge -> apex, apex -> hinge) of an ED contour whose apex is its middle point."""
    apex = len(points) // 2
    out = []
    for lo, hi in ((0, apex), (apex, len(points) - 1)):
        seg = np.linalg.norm(np.diff(points[lo:hi + 1], axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        t = np.interp(np.linspace(0.0, s[-1], n_per_side + 1), s, np.arange(lo, hi + 1, dtype=np.float64))
        out.append(t if lo == 0 else t[1:])
    return np.concatenate(out)


def _at(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    idx = np.arange(len(points), dtype=np.float64)
    return np.stack([np.interp(t, idx, points[:, 0]), np.interp(t, idx, points[:, 1])], axis=1)


def screen_order(endo_ed_px: np.ndarray) -> bool:
    """Whether a generated contour (septal/first wall first) already runs from the
    screen-left hinge with the apex shown up; False when it must be reversed."""
    apex = endo_ed_px[len(endo_ed_px) // 2]
    base = 0.5 * (endo_ed_px[0] + endo_ed_px[-1])
    up, first = apex - base, endo_ed_px[0] - base
    # In image coordinates (y down) the screen-left hinge of an apex-up LV has a
    # negative cross product with the base->apex direction.
    return bool(up[0] * first[1] - up[1] * first[0] < 0)


def wall_motion_truth(endo_px: np.ndarray, epi_px: np.ndarray, ed: int, es: int, names: tuple[str, ...],
                      spacing_mm: float) -> WallMotion:
    """The true wall motion between frames ``ed`` and ``es``.

    Args:
        endo_px: ``(frames, P, 2)`` true endocardial material points (``(x, y)`` px),
            first wall's hinge -> apex -> other hinge.
        epi_px: ``(frames, P, 2)`` the epicardial points opposite them.
        ed: ED frame.
        es: the following ES frame.
        names: anatomical names of the six segments in the generator's order.
        spacing_mm: isotropic pixel size.

    Returns:
        The :class:`~echoquant.quant.wallmotion.WallMotion` in screen order.
    """
    endo_ed, endo_es, epi_ed, epi_es = endo_px[ed], endo_px[es], epi_px[ed], epi_px[es]
    if not screen_order(endo_ed):
        endo_ed, endo_es, epi_ed, epi_es = (a[::-1] for a in (endo_ed, endo_es, epi_ed, epi_es))
        names = tuple(reversed(names))
    t = _material_parameters(endo_ed, N_PER_SIDE)
    p_ed, p_es = _at(endo_ed, t), _at(endo_es, t)
    thick_ed = np.linalg.norm(_at(epi_ed, t) - p_ed, axis=1)
    thick_es = np.linalg.norm(_at(epi_es, t) - p_es, axis=1)
    strain = []
    for s in SEGMENT_SLICES:
        l0 = np.linalg.norm(np.diff(p_ed[s], axis=0), axis=1).sum()
        l1 = np.linalg.norm(np.diff(p_es[s], axis=0), axis=1).sum()
        strain.append(float(100.0 * (l1 - l0) / l0))
    return segment_wall_motion(p_ed, p_es, names, strain_pct=strain, ed_thickness_px=thick_ed,
                               es_thickness_px=thick_es, spacing_mm=(spacing_mm, spacing_mm), check=False)


def loop_wall_motion_truth(endo_px: np.ndarray, epi_px: np.ndarray, ed_frames: list[int], es_frames: list[int],
                           names: tuple[str, ...], spacing_mm: float) -> WallMotion:
    """The true wall motion of a loop: each ED -> ES pair inside it, summarised over
    beats as a measurement is (:func:`~echoquant.quant.wallmotion.summarise_wall_motion`)."""
    beats = [wall_motion_truth(endo_px, epi_px, ed, es, names, spacing_mm)
             for ed, es in zip(ed_frames, es_frames)]
    return summarise_wall_motion(beats)
