"""Left-ventricle shape and its motion: an explicit, invertible material map.

Local LV coordinates (mm): ``u`` runs along the long axis from the endocardial apex
(u = 0) to the mitral annulus (u = L); ``v`` is lateral, negative on the septal
(or inferior/anteroseptal) side, positive on the lateral side. The end-diastolic
endocardium is a truncated ellipse (plus optional asymmetry and apical bulge);
the epicardium a wider ellipse offset by the wall thickness.

Motion is a Lagrangian map from ED positions to positions at systolic fraction
``f`` (0 = ED, 1 = ES): the base descends toward a fixed apex (longitudinal
shortening ``a`` weighted by the regional kinesis), the walls move inwards (radial
contraction ``r``), and the inward displacement decays into and beyond the wall so
that the wall thickens. Every tissue point, speckle scatterers included, moves by
the same map; truth contours are material lines moved by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from echoquant.geometry import method_of_disks, polyline_length

__all__ = ["LVShape", "Kinesis", "HeartMotion", "SEGMENT_NAMES", "decay_length_mm", "solve_motion"]

SEGMENT_NAMES = {
    "A4C": ("basal inferoseptal", "mid inferoseptal", "apical septal",
            "apical lateral", "mid anterolateral", "basal anterolateral"),
    "A2C": ("basal inferior", "mid inferior", "apical inferior",
            "apical anterior", "mid anterior", "basal anterior"),
    "PLAX": ("basal anteroseptal", "mid anteroseptal", "apical anteroseptal",
             "apical inferolateral", "mid inferolateral", "basal inferolateral"),
}


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class LVShape:
    """End-diastolic LV geometry in mm.

    Attributes:
        a_mm: long semi-axis of the endocardial ellipse.
        b_mm: short semi-axis.
        truncation: how far past the ellipse centre the base lies, as a fraction of
            ``a_mm`` (0.3-0.6); L = a (1 + truncation).
        wall_septal_mm: septal wall thickness.
        wall_lateral_mm: lateral wall thickness.
        wall_apex_mm: apical wall thickness.
        asymmetry: lateral side wider by this fraction, septal narrower.
        bulge: apical aneurysm size as a fraction of ``b_mm`` (0 = none).
        thin_segments: indices 0-5 of segments thinned (infarct scar) to 40 %.
    """

    a_mm: float
    b_mm: float
    truncation: float = 0.45
    wall_septal_mm: float = 9.0
    wall_lateral_mm: float = 9.0
    wall_apex_mm: float = 7.0
    asymmetry: float = 0.0
    bulge: float = 0.0
    thin_segments: tuple[int, ...] = ()

    @property
    def length_mm(self) -> float:
        """ED long-axis length, apex to mid-annulus."""
        return self.a_mm * (1.0 + self.truncation)

    def half_width(self, u: np.ndarray, side: np.ndarray | float) -> np.ndarray:
        """Endocardial half-width at ``u`` on a side (-1 septal, +1 lateral)."""
        u = np.asarray(u, dtype=np.float64)
        x = np.clip((u - self.a_mm) / self.a_mm, -1.0, 1.0)
        w = self.b_mm * np.sqrt(np.clip(1.0 - x * x, 0.0, None))
        w = w * (1.0 + self.asymmetry * np.sign(side))
        if self.bulge > 0:
            # An apical aneurysm widens the distal third.
            w = w + self.bulge * self.b_mm * np.exp(-(((u - 0.22 * self.length_mm) / (0.16 * self.length_mm)) ** 2)) * np.sqrt(
                np.clip(u / (0.05 * self.length_mm), 0.0, 1.0)
            )
        return w

    def wall_thickness(self, u: np.ndarray, side: np.ndarray | float) -> np.ndarray:
        """Wall thickness along the sides, blending to the apical value near the apex."""
        u = np.asarray(u, dtype=np.float64)
        side_wall = np.where(np.sign(side) < 0, self.wall_septal_mm, self.wall_lateral_mm)
        t = _smoothstep(u / (0.25 * self.length_mm))
        h = self.wall_apex_mm + (side_wall - self.wall_apex_mm) * t
        if self.thin_segments:
            seg = segment_index(u, side, self.length_mm)
            thin = np.isin(seg, np.asarray(self.thin_segments))
            h = np.where(thin, 0.4 * h, h)
        return h

    def endocardium(self, n_per_side: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """ED endocardial contour as ``(u, v)`` arrays, septal hinge -> apex -> lateral hinge.

        Points are spaced evenly in the ellipse angle, denser at the apex.
        """
        phi_base = np.arccos(-self.truncation)
        phi = np.linspace(phi_base, 0.0, n_per_side + 1)
        u_sept = self.a_mm * (1.0 - np.cos(phi))
        u = np.concatenate([u_sept, u_sept[::-1][1:]])
        side = np.concatenate([-np.ones(n_per_side + 1), np.ones(n_per_side)])
        side[n_per_side] = 0.0  # the apex point
        v = side * self.half_width(u, np.where(side == 0, 1.0, side))
        return u, v

    def epicardium(self, u_endo: np.ndarray, v_endo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Epicardial points: the endocardial points pushed outwards along the
        ellipse normal by the local wall thickness."""
        side = np.where(v_endo < 0, -1.0, 1.0)
        du = np.gradient(u_endo)
        dv = np.gradient(v_endo)
        norm = np.hypot(du, dv) + 1e-12
        # Outward normal of a curve running septum -> apex -> lateral is (-dv, du)/|.|
        # in (u, v) order when u grows towards the base... choose the sign that points
        # away from the cavity's centre line.
        nu, nv = dv / norm, -du / norm
        centre_u = 0.5 * self.length_mm
        flip = (nu * (u_endo - centre_u) + nv * v_endo) < 0
        nu, nv = np.where(flip, -nu, nu), np.where(flip, -nv, nv)
        h = self.wall_thickness(u_endo, side)
        return u_endo + nu * h, v_endo + nv * h


def segment_index(u: np.ndarray, side: np.ndarray | float, length_mm: float) -> np.ndarray:
    """Segment 0-5 of a point by long-axis thirds: septal basal/mid/apical = 0/1/2,
    lateral apical/mid/basal = 3/4/5."""
    u = np.asarray(u, dtype=np.float64)
    third = np.clip((u / length_mm * 3.0).astype(int), 0, 2)  # 0 apical, 1 mid, 2 basal
    septal = np.broadcast_to(np.sign(side) < 0, u.shape)
    return np.where(septal, 2 - third, 3 + third)


@dataclass(frozen=True)
class Kinesis:
    """Regional wall motion: one factor per segment (1 normal, 0.5 hypokinetic,
    0 akinetic, negative dyskinetic), in :data:`SEGMENT_NAMES` order."""

    factors: tuple[float, ...] = (1.0,) * 6

    def profile(self, u: np.ndarray, side: np.ndarray | float, length_mm: float) -> np.ndarray:
        """Smooth kinesis along the long axis of one side (segment values blended
        over a sixth of the length around each border)."""
        u = np.asarray(u, dtype=np.float64)
        f = np.asarray(self.factors, dtype=np.float64)
        septal = np.broadcast_to(np.asarray(np.sign(side)) < 0, u.shape)
        apical = np.where(septal, f[2], f[3])
        mid = np.where(septal, f[1], f[4])
        basal = np.where(septal, f[0], f[5])
        x = u / length_mm * 3.0
        w1 = _smoothstep((x - 0.75) / 0.5)  # apical -> mid around x = 1
        w2 = _smoothstep((x - 1.75) / 0.5)  # mid -> basal around x = 2
        return apical + (mid - apical) * w1 + (basal - mid) * w2


@dataclass
class HeartMotion:
    """The Lagrangian map of one heart.

    Attributes:
        shape: ED geometry.
        kinesis: regional wall motion.
        shortening: longitudinal shortening ``a`` at f = 1 (fraction of length).
        contraction: radial contraction ``r`` at f = 1 (fraction of half-width).
        atrial_depth_mm: distance below the annulus over which atrial tissue follows
            the annulus less and less (the atrial roof stays put).
        decay_mm: how fast inward displacement decays outside the endocardium
            (see :func:`decay_length_mm`).
    """

    shape: LVShape
    kinesis: Kinesis = field(default_factory=Kinesis)
    shortening: float = 0.15
    contraction: float = 0.3
    atrial_depth_mm: float = 45.0
    decay_mm: float = 15.0
    _grid: np.ndarray = field(init=False, repr=False)
    _cum: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        length = self.shape.length_mm
        self._grid = np.linspace(0.0, length, 512)
        self._cum = {}
        for side in (-1.0, 1.0):
            k = self.kinesis.profile(self._grid, side, length)
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * np.diff(self._grid))])
            self._cum[side] = cum

    def _cumulative(self, u: np.ndarray, side: float) -> np.ndarray:
        return np.interp(u, self._grid, self._cum[side])

    def displace(self, u: np.ndarray, v: np.ndarray, f: float, lateral_extent_mm: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
        """Map ED points ``(u, v)`` to their positions at systolic fraction ``f``.

        Args:
            u: long-axis coordinates at ED.
            v: lateral coordinates at ED.
            f: systolic fraction, 0 (ED) to 1 (ES).
            lateral_extent_mm: beyond this lateral distance tissue stops following
                the heart (chest wall, lung).

        Returns:
            ``(u', v')``.
        """
        if f == 0.0:
            return u.copy(), v.copy()
        du, dv = self.unit_displacement(u, v, lateral_extent_mm)
        return u + f * du, v + f * dv

    def unit_displacement(self, u: np.ndarray, v: np.ndarray,
                          lateral_extent_mm: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
        """Displacement ``(du, dv)`` of ED points at ``f = 1``. The map is linear in
        ``f`` (:meth:`displace` is ``u + f du``), so a loop computes this once per
        point set and scales it for every frame."""
        shape = self.shape
        length = shape.length_mm
        w_side = 0.5 * (1.0 + np.tanh(v / 1.0))  # 0 septal, 1 lateral, smooth at v = 0
        uc = np.clip(u, 0.0, length)
        # Longitudinal: base moves towards the apex; atria follow, tapering off.
        cum = (1.0 - w_side) * self._cumulative(uc, -1.0) + w_side * self._cumulative(uc, 1.0)
        below = np.clip((u - length) / self.atrial_depth_mm, 0.0, 1.0)
        above = np.clip(-u / 5.0, 0.0, 1.0)
        taper_v = 1.0 - _smoothstep((np.abs(v) - lateral_extent_mm) / 20.0)
        du = -self.shortening * cum * np.where(u > length, 1.0 - below, 1.0) * (1.0 - above) * taper_v
        # Radial: inward motion, uniform inside the cavity, decaying outside it.
        kin = (1.0 - w_side) * self.kinesis.profile(uc, -1.0, length) + w_side * self.kinesis.profile(uc, 1.0, length)
        half = np.maximum(shape.half_width(uc, np.where(v < 0, -1.0, 1.0)), 1e-6)
        x = np.abs(v) / half
        inward_unit = np.where(x < 1.0, x, np.exp(-(x - 1.0) * half / self.decay_mm))
        # Atria do not contract with the ventricle: radial motion stops just below the base.
        taper_r = (1.0 - np.clip((u - length) / (0.08 * length), 0.0, 1.0)) * (1.0 - above)
        dv = -np.sign(v) * self.contraction * kin * half * inward_unit * taper_r
        return du, dv

    # ----- truth measures -------------------------------------------------------------

    def endo_at(self, f: float, n_per_side: int = 60) -> np.ndarray:
        """Endocardial contour ``(N, 2)`` as ``(v, u)`` mm at fraction ``f``."""
        u, v = self.shape.endocardium(n_per_side)
        u2, v2 = self.displace(u, v, f)
        return np.stack([v2, u2], axis=1)

    def volume_ml(self, f: float) -> float:
        """Method-of-disks volume (20 disks) of the true contour at ``f``."""
        contour = self.endo_at(f)
        apex = contour[len(contour) // 2]
        return method_of_disks(contour, apex=apex).volume_ml

    def ef_gls(self, f: float = 1.0) -> tuple[float, float]:
        """``(LVEF %, endocardial GLS %)`` between f = 0 and ``f``."""
        v0, v1 = self.volume_ml(0.0), self.volume_ml(f)
        l0, l1 = polyline_length(self.endo_at(0.0)), polyline_length(self.endo_at(f))
        return 100.0 * (v0 - v1) / v0, 100.0 * (l1 - l0) / l0


def decay_length_mm(shape: LVShape) -> float:
    """How far (mm) the inward motion of the endocardium reaches into the wall and
    beyond: 15 mm for a human-sized LV (long axis >= 60 mm), in proportion to the
    long axis below that. The wall's systolic thickening is the endocardial motion
    that has decayed across it, about ``r k half-width / decay`` of its thickness, so a
    fixed 15 mm gave a 7 mm mouse LV 5-10 % thickening instead of the 30-60 % that
    rodent and human myocardium both show."""
    return 15.0 * min(1.0, shape.length_mm / 60.0)


def solve_motion(
    shape: LVShape,
    kinesis: Kinesis,
    lvef_pct: float,
    gls_pct: float,
    f_es: float = 1.0,
) -> HeartMotion:
    """Find the longitudinal shortening and radial contraction that give the
    requested LVEF and GLS at systolic fraction ``f_es`` (decay length from
    :func:`decay_length_mm`).

    Raises:
        ValueError: when the pair cannot be reached with this shape (e.g. LVEF 70 %
            with GLS -2 %).
    """
    from scipy.optimize import least_squares

    decay = decay_length_mm(shape)

    def residual(p: np.ndarray) -> np.ndarray:
        m = HeartMotion(shape, kinesis, shortening=p[0], contraction=p[1], decay_mm=decay)
        ef, gls = m.ef_gls(f_es)
        return np.array([ef - lvef_pct, gls - gls_pct])

    mean_k = max(0.2, float(np.mean(kinesis.factors)))
    start = np.array([-gls_pct / 100.0 / mean_k, 0.5 * lvef_pct / 100.0 / mean_k])
    fit = least_squares(residual, np.clip(start, [-0.14, -0.09], [0.59, 0.84]), bounds=([-0.15, -0.1], [0.6, 0.85]), xtol=1e-10, ftol=1e-10)
    if np.max(np.abs(fit.fun)) > 0.05:
        ef, gls = lvef_pct + fit.fun[0], gls_pct + fit.fun[1]
        raise ValueError(
            f"LVEF {lvef_pct:.1f}% with GLS {gls_pct:.1f}% is not reachable for this shape and "
            f"kinesis (closest: LVEF {ef:.1f}%, GLS {gls:.1f}%)"
        )
    return HeartMotion(shape, kinesis, shortening=float(fit.x[0]), contraction=float(fit.x[1]), decay_mm=decay)
