"""Parasternal long-axis (PLAX) dimensions, as preclinical papers report them from the
2-D image: LV internal diameter, septal and posterior wall thickness and the long-axis
length, at end-diastole and end-systole of every beat.

Definitions (the generator's truth uses the same, :mod:`echoquant.synth.generate`):

- **Long axis**: from the midpoint of the two mitral hinge points (the ends of the
  traced endocardial contour) to the apex (its point farthest from that midpoint); its
  length is ``lv_length_mm`` (ED) and ``lv_length_es_mm``.
- **Measurement line**: perpendicular to the frame's own long axis, through the point
  :data:`PLAX_LVID_LEVEL` (0.30) of the length from the annulus midpoint towards the
  apex: the level of the tips of the open mitral leaflets (leaflets about 0.6 of the
  annulus diameter, the annulus about half the LV length), where the ASE measures LV
  dimensions in a long axis, perpendicular to it.
- **LVID**: the cavity's chord on that line (endocardium to endocardium; the cavity is
  the contour closed by the annulus line); ``FS = 100 (LVIDd - LVIDs) / LVIDd``.
- **Walls**: from each end of the chord outwards along the same line to the outer
  border of LV cavity plus myocardium (the epicardium): the end nearer the transducer
  (smaller image row) is the interventricular septum (``ivs``, the anterior wall), the
  other the posterior wall (``lvpw``), as M-mode names them.

All lengths are measured in mm on calibrated loops (anisotropic pixels allowed); an
uncalibrated loop gets FS only (a ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoquant.geometry import chord_across, line_crossings

__all__ = ["PLAX_LVID_LEVEL", "PlaxDimensions", "plax_dimensions"]

PLAX_LVID_LEVEL = 0.30


@dataclass(frozen=True)
class PlaxDimensions:
    """One frame's PLAX dimensions in the contour's unit (mm, or px uncalibrated).

    Attributes:
        lvid: cavity diameter on the measurement line.
        ivs: septal (anterior) wall thickness, None where no wall was found.
        lvpw: posterior wall thickness, None where no wall was found.
        length: long-axis length (mid-annulus to apex).
    """

    lvid: float
    ivs: float | None
    lvpw: float | None
    length: float


def _wall(start: np.ndarray, outward: np.ndarray, outer: np.ndarray | None) -> float | None:
    """Distance from a cavity border point outwards to the outer (epicardial) border."""
    if outer is None:
        return None
    t = line_crossings(start, outward, outer)
    t = t[t > 1e-6]
    return float(t.min()) if len(t) else None


def plax_dimensions(contour: np.ndarray, outer: np.ndarray | None = None,
                    level: float = PLAX_LVID_LEVEL) -> PlaxDimensions | None:
    """PLAX dimensions of one frame (see the module docstring).

    Args:
        contour: ``(N, 2)`` ``(x, y)`` endocardial contour, hinge -> apex -> hinge (mm,
            or px with an image's y axis pointing down either way).
        outer: closed ``(M, 2)`` outer border of LV cavity + myocardium, same unit; None
            skips the walls.
        level: where along the long axis the line is, from the annulus (0) to the apex (1).

    Returns:
        The dimensions, or None when the line does not cross the cavity on both sides.
    """
    pts = np.asarray(contour, dtype=np.float64)
    base_mid = 0.5 * (pts[0] + pts[-1])
    apex = pts[int(np.argmax(np.linalg.norm(pts - base_mid, axis=1)))]
    length = float(np.linalg.norm(apex - base_mid))
    if length <= 0:
        return None
    axis = (apex - base_mid) / length
    across = np.array([-axis[1], axis[0]])
    centre = base_mid + level * length * axis
    chord = chord_across(centre, across, pts)
    if chord is None:
        return None
    lo, hi = centre + chord[0] * across, centre + chord[1] * across
    walls = (_wall(lo, -across, outer), _wall(hi, across, outer))
    # The septum is the wall nearer the transducer: smaller y (image row).
    septal_first = lo[1] <= hi[1]
    ivs, lvpw = walls if septal_first else walls[::-1]
    return PlaxDimensions(float(chord[1] - chord[0]), ivs, lvpw, length)
