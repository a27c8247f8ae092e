"""Rodent parasternal short-axis (SAX) loops at the mid-papillary level, with exact truth.

The cut is the same heart as the long-axis views: its ED endocardial radius and wall
come from the :class:`~echoquant.synth.heart.LVShape` at 55 % of the long axis from the
apex, and its radial contraction from the solved
:class:`~echoquant.synth.heart.HeartMotion`, so a PLAX and a SAX loop of one case
describe one ventricle (what the bullet method combines).

Motion is an explicit polar map about the LV centre. At systolic fraction ``f`` the
endocardium of segment direction ``theta`` moves inward to ``r_endo (1 - f c k(theta))``
(``c`` the radial contraction, ``k`` the regional kinesis); the cavity contents scale
with it; the wall is incompressible in the plane except for the area it gains as the
ventricle shortens along its axis (``1 / (1 - f s)``, ``s`` the longitudinal
shortening), so it thickens exactly as much as the ring geometry demands; outside the
epicardium the motion fades over ``decay`` mm; a small twist turns the whole section.
Truth (areas, FAC, LV internal diameter, circumferential and radial strain, by segment)
is computed on the moved material contours, never from the image.

Segments (6, AHA mid-ventricular, clockwise on screen from the top with the RV on
the screen-left, as Vevo shows it): anterior, anterolateral, inferolateral, inferior,
inferoseptal, anteroseptal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoquant.quant.sax import SAX_SEGMENT_NAMES
from echoquant.synth.heart import HeartMotion, LVShape
from echoquant.synth.rodent import RodentLook
from echoquant.synth.scene import Placement, Tissue, inside_polygon, smooth_field

__all__ = ["SAX_SEGMENTS", "SAX_SEGMENT_ANGLES_DEG", "SaxMotion", "sax_kinesis_of", "sax_tissue", "sax_truth",
           "polygon_area"]

SAX_SEGMENTS = SAX_SEGMENT_NAMES
# Segment centres on screen (deg, 0 = screen right, positive turning down = clockwise).
SAX_SEGMENT_ANGLES_DEG = (-90.0, -30.0, 30.0, 90.0, 150.0, -150.0)
SAX_LEVEL = 0.55  # fraction of the long axis from the apex (mid-papillary)


def sax_kinesis_of(kinesis: tuple[float, ...], thin: tuple[int, ...]) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The mid-papillary section of a long-axis heart: its kinesis and thinned segments in
    SAX order. An infarct (any long-axis segment below half of normal) is taken to be a
    LAD ligation: the anterior and anterolateral segments move as the infarcted
    long-axis segments do on average (and are thinned if those are); the rest is normal."""
    k = np.asarray(kinesis, dtype=np.float64)
    abnormal = k < 0.5
    out = np.ones(6)
    if not abnormal.any():
        return tuple(float(x) for x in out), ()
    out[[0, 1]] = float(k[abnormal].mean())
    return tuple(float(x) for x in out), ((0, 1) if thin else ())


def polygon_area(points: np.ndarray) -> float:
    """Area (shoelace) of a closed polygon ``(N, 2)``."""
    x, y = points[:, 0], points[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _periodic_profile(values: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Smooth periodic interpolation of per-segment values at angles ``theta`` (rad)."""
    centres = np.radians(np.asarray(SAX_SEGMENT_ANGLES_DEG))
    order = np.argsort(centres)
    c, v = centres[order], np.asarray(values, dtype=np.float64)[order]
    c = np.concatenate([c - 2 * np.pi, c, c + 2 * np.pi])
    v = np.concatenate([v, v, v])
    t = np.mod(theta + np.pi, 2 * np.pi) - np.pi
    # Piecewise-linear between centres, then a plateau over the middle of each segment.
    lin = np.interp(t, c, v)
    idx = np.clip(np.searchsorted(c, t) - 1, 0, len(c) - 2)
    frac = (t - c[idx]) / (c[idx + 1] - c[idx])
    w = np.clip((frac - 0.25) / 0.5, 0.0, 1.0)
    w = w * w * (3 - 2 * w)
    smooth = v[idx] + (v[idx + 1] - v[idx]) * w
    return np.where(np.isfinite(smooth), smooth, lin)


@dataclass
class SaxMotion:
    """The polar map of one mid-ventricular section.

    Attributes:
        radius_mm: mean ED endocardial radius.
        ellipticity: ED endocardium ``r (1 + e cos 2(theta - theta_e))``.
        ellipse_angle: ``theta_e`` (rad).
        wall_mm: per-segment ED wall thickness.
        kinesis: per-segment kinesis (1 normal, 0 akinetic, < 0 dyskinetic).
        contraction: radial contraction ``c`` of a normal segment at f = 1.
        shortening: longitudinal shortening ``s`` at f = 1 (the wall's in-plane gain).
        twist_rad: rotation of the section at f = 1.
        decay_mm: how far outside the epicardium the motion fades.
    """

    radius_mm: float
    ellipticity: float
    ellipse_angle: float
    wall_mm: tuple[float, ...]
    kinesis: tuple[float, ...]
    contraction: float
    shortening: float
    twist_rad: float
    decay_mm: float

    @classmethod
    def from_heart(cls, motion: HeartMotion, kinesis: tuple[float, ...], thin: tuple[int, ...],
                   rng: np.random.Generator) -> "SaxMotion":
        """The section of a solved long-axis heart at :data:`SAX_LEVEL`."""
        s: LVShape = motion.shape
        u = np.array([SAX_LEVEL * s.length_mm])
        radius = float(0.5 * (s.half_width(u, -1.0)[0] + s.half_width(u, 1.0)[0]))
        wall = np.array([s.wall_lateral_mm] * 3 + [s.wall_septal_mm] * 3, dtype=np.float64)
        wall = wall[[0, 1, 2, 3, 4, 5]] * rng.uniform(0.9, 1.1, size=6)
        for seg in thin:
            wall[seg] *= 0.4
        return cls(radius_mm=radius, ellipticity=float(rng.uniform(-0.06, 0.06)),
                   ellipse_angle=float(rng.uniform(0, np.pi)), wall_mm=tuple(float(w) for w in wall),
                   kinesis=tuple(float(k) for k in kinesis), contraction=float(motion.contraction),
                   shortening=float(motion.shortening), twist_rad=float(np.radians(rng.uniform(-6.0, 6.0))),
                   decay_mm=float(motion.decay_mm))

    # -- ED geometry --------------------------------------------------------------------

    def r_endo(self, theta: np.ndarray) -> np.ndarray:
        return self.radius_mm * (1.0 + self.ellipticity * np.cos(2.0 * (theta - self.ellipse_angle)))

    def wall(self, theta: np.ndarray) -> np.ndarray:
        return _periodic_profile(np.asarray(self.wall_mm), theta)

    def k(self, theta: np.ndarray) -> np.ndarray:
        return _periodic_profile(np.asarray(self.kinesis), theta)

    # -- the map ------------------------------------------------------------------------

    def prepare(self, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
        """What :meth:`displace` needs of ED points that does not change with ``f``
        (polar position, ED endocardial and epicardial radius and kinesis along each
        point's ray): computed once for a loop's scatterers, not once per frame."""
        rho = np.hypot(p, q)
        theta = np.arctan2(q, p)
        re0 = self.r_endo(theta)
        return rho, theta, re0, re0 + self.wall(theta), self.k(theta)

    def displace(self, p: np.ndarray, q: np.ndarray, f: float,
                 prepared: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """ED points ``(p, q)`` (mm about the LV centre; p screen-right, q down) at ``f``
        (``prepared``: :meth:`prepare` of the same points, to skip recomputing it)."""
        p1, q1, _ = self.displace_with_area(p, q, f, prepared)
        return p1, q1

    def displace_with_area(self, p: np.ndarray, q: np.ndarray, f: float,
                           prepared: tuple[np.ndarray, ...] | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`displace` plus each point's local area change J (area at ``f`` over area
        at ED) from the radial map's derivative, ``J = (rho1 / rho) d rho1 / d rho``: exact
        inside the epicardium, where the twist is uniform (cavity: ``(re1 / re0)**2``;
        wall: the in-plane gain), and to first order outside it, where the motion fades."""
        rho, theta, re0, rw0, kt = self.prepare(p, q) if prepared is None else prepared
        re1 = re0 * (1.0 - f * self.contraction * kt)
        gain = 1.0 / (1.0 - f * self.shortening)
        inside = rho <= re0
        ring = np.sqrt(np.maximum(re1 ** 2 + (rho ** 2 - re0 ** 2) * gain, 1e-12))
        scale = re1 / np.maximum(re0, 1e-9)
        rho1 = np.where(inside, rho * scale, ring)
        drho1 = np.where(inside, scale, rho * gain / ring)
        outside = rho > rw0
        fade = np.exp(-np.maximum(rho - rw0, 0.0) / self.decay_mm)
        faded = rho + (rho1 - rho) * fade
        drho1 = np.where(outside, 1.0 + (drho1 - 1.0) * fade - (rho1 - rho) * fade / self.decay_mm, drho1)
        rho1 = np.where(outside, faded, rho1)
        area = rho1 / np.maximum(rho, 1e-9) * drho1
        twist = f * self.twist_rad * np.where(outside, fade, 1.0)
        th1 = theta + twist
        return rho1 * np.cos(th1), rho1 * np.sin(th1), area

    def contours(self, f: float, n: int = 180) -> tuple[np.ndarray, np.ndarray]:
        """Endocardial and epicardial material contours ``(n, 2)`` as ``(p, q)`` mm at ``f``."""
        theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
        re0 = self.r_endo(theta)
        rw0 = re0 + self.wall(theta)
        endo = self.displace(re0 * np.cos(theta), re0 * np.sin(theta), f)
        epi = self.displace(rw0 * np.cos(theta), rw0 * np.sin(theta), f)
        return np.stack(endo, axis=1), np.stack(epi, axis=1)


def sax_tissue(p: np.ndarray, q: np.ndarray, x: np.ndarray, z: np.ndarray, sax: SaxMotion, look: RodentLook,
               rng: np.random.Generator) -> np.ndarray:
    """Tissue class of ED scatterers of a SAX scene (``p, q`` about the LV centre,
    ``x, z`` world)."""
    labels = np.full(p.shape, Tissue.BACKGROUND, dtype=np.int8)
    endo, epi = sax.contours(0.0, 240)
    pts = np.stack([p, q], axis=1)
    in_cav = inside_polygon(endo, pts)
    in_epi = inside_polygon(epi, pts) | in_cav
    labels[in_epi] = Tissue.LV_MYO
    labels[in_cav] = Tissue.LV_BLOOD
    rho, theta = np.hypot(p, q), np.arctan2(q, p)
    re0 = sax.r_endo(theta)
    # Papillary muscles (anterolateral and posteromedial) stand off the wall into the
    # cavity; they are part of the cavity as the LV is traced (ASE).
    for ang, size in ((-35.0, 1.0), (115.0, 0.85)):
        a = np.radians(ang + rng.uniform(-10, 10))
        cx, cq = 0.72 * sax.radius_mm * np.cos(a), 0.72 * sax.radius_mm * np.sin(a)
        pap = ((p - cx) ** 2 + (q - cq) ** 2) <= (0.22 * sax.radius_mm * size) ** 2
        labels[pap & in_cav] = Tissue.PAPILLARY
    labels[in_cav & (rho > re0 - 0.06 * sax.radius_mm)] = Tissue.TRABECULAE

    # RV: a crescent wrapped round the septum on the screen-left.
    r_out = sax.radius_mm + float(np.mean(sax.wall_mm))
    rv_c = np.radians(rng.uniform(-175.0, -150.0))
    rv_a, rv_b = r_out * rng.uniform(0.9, 1.25), r_out * rng.uniform(0.2, 0.45)
    cxr, cqr = 0.75 * r_out * np.cos(rv_c), 0.75 * r_out * np.sin(rv_c)
    ca, sa = np.cos(rv_c + np.pi / 2), np.sin(rv_c + np.pi / 2)
    du, dv = (p - cxr) * ca + (q - cqr) * sa, -(p - cxr) * sa + (q - cqr) * ca
    ell = (du / rv_a) ** 2 + (dv / (rv_b + 0.75 * r_out)) ** 2
    in_rv = (ell <= 1.0) & ~in_epi & (rho < r_out + 2.2 * rv_b)
    rv_wall = (ell > 1.0) & (ell <= 1.25) & ~in_epi & (rho < r_out + 2.5 * rv_b)
    labels[rv_wall] = Tissue.RV_WALL
    labels[in_rv] = Tissue.RV_BLOOD

    # Pericardium behind the inferior and lateral wall.
    peri = (rho > r_out + 0.0) & (rho < r_out + 0.05 * sax.radius_mm * 4) & (np.sin(theta) > -0.2) \
        & (labels == Tissue.BACKGROUND) & ~in_epi
    labels[peri] = Tissue.PERICARDIUM

    # Chest wall across the top, just in front of the heart.
    top = float(np.min(z[in_epi | in_rv])) if (in_epi | in_rv).any() else float(np.min(z))
    z_cw = top - look.chest_gap_mm - 0.05 * sax.radius_mm + 0.1 * sax.radius_mm * smooth_field(
        x, np.zeros_like(x), rng, 4 * sax.radius_mm, n=3)
    chest = (z < z_cw) & ~in_epi & ~in_rv
    labels[chest] = Tissue.CHEST_WALL
    frac = z / np.maximum(z_cw, 1e-6)
    for k in range(look.n_fascia):
        level = rng.uniform(0.15, 0.95) if k else 0.985
        width = sax.radius_mm * rng.uniform(0.015, 0.03)
        line = chest & (np.abs((frac - level) * z_cw) < width)
        labels[line] = Tissue.FASCIA
    if look.lung:
        below = (rho > r_out + 0.5 * sax.radius_mm) & (q > 0.6 * sax.radius_mm) & (labels == Tissue.BACKGROUND)
        labels[below] = Tissue.LUNG
    return labels


def sax_specular(p: np.ndarray, q: np.ndarray, labels: np.ndarray, sax: SaxMotion, look: RodentLook,
                 placement: Placement) -> np.ndarray:
    """Gain of wall-surface scatterers facing the vertical beams (top and bottom of the ring)."""
    rho, theta = np.hypot(p, q), np.arctan2(q, p)
    re0 = sax.r_endo(theta)
    rw0 = re0 + sax.wall(theta)
    shell = 0.04 * sax.radius_mm
    on = (np.abs(rho - re0) < shell) | (np.abs(rho - rw0) < shell)
    on &= np.isin(labels, [Tissue.LV_MYO, Tissue.LV_BLOOD, Tissue.TRABECULAE, Tissue.PERICARDIUM])
    world_angle = theta + np.radians(placement.tilt_deg)
    nz = np.abs(np.sin(world_angle))
    patch = np.clip(smooth_field(p, q, np.random.default_rng(int(1e6 * look.specular) + 1), 0.6 * sax.radius_mm, 4), 0, None)
    gain = np.ones(p.shape)
    gain[on] = 1.0 + look.specular * nz[on] ** 8 * patch[on]
    return gain


def _wall_motion(strain: np.ndarray, excursion: np.ndarray, thickening: np.ndarray, ed_thickness: np.ndarray,
                 ed_arc: np.ndarray) -> dict:
    """The rule of :func:`echoquant.quant.saxmotion.sax_wall_motion` on the true segment values."""
    from echoquant.quant.wallmotion import WALL_MOTION_SCORES, SegmentMotion, WallMotion, kinesis_index, \
        wall_motion_class

    segs = []
    for k, name in enumerate(SAX_SEGMENTS):
        index, _ = kinesis_index(float(strain[k]), float(excursion[k]), float(thickening[k]))
        cls = wall_motion_class(index)
        segs.append(SegmentMotion(name, cls, WALL_MOTION_SCORES.get(cls), index, float(strain[k]), float(excursion[k]),
                                  float(thickening[k]), float(ed_thickness[k]), float(ed_arc[k])))
    return WallMotion(segs).to_dict()


def sax_truth(sax: SaxMotion, f_t: np.ndarray, ed: np.ndarray, es: np.ndarray) -> tuple[dict, dict]:
    """Scalar truth and per-frame curves of a SAX loop.

    ``lvid`` is the endocardial diameter along the anterior-inferior line through the
    ED centroid (where an M-mode cursor crosses a SAX); ``gcs`` the change of the
    endocardial perimeter; ``grs`` the change of the mean wall thickness (epicardial
    minus endocardial radius along each material ray); segment values are the same
    on the contour points of each 60-degree segment; a segment's excursion is the change
    of its endocardium's distance from the section's centre; wall-motion classes,
    WMSI and akinetic extent follow :mod:`echoquant.quant.saxmotion` on those values.
    """
    n = len(f_t)
    theta = np.linspace(-np.pi, np.pi, 180, endpoint=False)
    seg_of = np.argmin(np.abs(np.angle(np.exp(1j * (theta[:, None] - np.radians(SAX_SEGMENT_ANGLES_DEG)[None, :])))),
                       axis=1)
    area = np.zeros(n)
    perim = np.zeros(n)
    thick = np.zeros((n, 6))
    seg_len = np.zeros((n, 6))
    lvid = np.zeros(n)
    radius = np.zeros((n, 6))
    epi_area = np.zeros(n)
    for i, f in enumerate(f_t):
        endo, epi = sax.contours(float(f), 180)
        area[i] = polygon_area(endo)
        d = np.linalg.norm(np.diff(np.vstack([endo, endo[:1]]), axis=0), axis=1)
        perim[i] = d.sum()
        t = np.linalg.norm(epi - endo, axis=1)
        r = np.linalg.norm(endo, axis=1)  # from the section's centre, which the map keeps fixed
        epi_area[i] = polygon_area(epi)
        for s_ in range(6):
            sel = seg_of == s_
            thick[i, s_] = t[sel].mean()
            seg_len[i, s_] = d[sel].sum()
            radius[i, s_] = r[sel].mean()
        # Anterior (theta = -90 deg) and inferior (+90 deg) endocardial points.
        up, down = endo[45], endo[135]
        lvid[i] = float(np.linalg.norm(up - down))
    fac = 100.0 * (area[ed] - area[es]) / area[ed]
    gcs = 100.0 * (perim[es] - perim[ed]) / perim[ed]
    grs = 100.0 * (thick[es].mean(axis=1) - thick[ed].mean(axis=1)) / thick[ed].mean(axis=1)
    seg_thick = 100.0 * (thick[es] - thick[ed]) / thick[ed]
    seg_strain = 100.0 * (seg_len[es] - seg_len[ed]) / seg_len[ed]
    lvidd, lvids = lvid[ed], lvid[es]
    seg_excursion = 100.0 * (radius[ed] - radius[es]) / radius[ed]
    motion = _wall_motion(seg_strain.mean(axis=0), seg_excursion.mean(axis=0), seg_thick.mean(axis=0),
                          thick[ed].mean(axis=0), seg_len[ed].mean(axis=0))
    truth = {
        "eda_mm2": float(np.mean(area[ed])), "esa_mm2": float(np.mean(area[es])), "fac_pct": float(np.mean(fac)),
        "fac_per_beat_pct": fac.tolist(), "gcs_pct": float(np.mean(gcs)), "grs_pct": float(np.mean(grs)),
        "lvidd_mm": float(np.mean(lvidd)), "lvids_mm": float(np.mean(lvids)),
        "fs_pct": float(np.mean(100.0 * (lvidd - lvids) / lvidd)),
        "segment_thickening_pct": {SAX_SEGMENTS[s]: float(np.mean(seg_thick[:, s])) for s in range(6)},
        "segment_circumferential_strain_pct": {SAX_SEGMENTS[s]: float(np.mean(seg_strain[:, s])) for s in range(6)},
        "segment_excursion_pct": {SAX_SEGMENTS[s]: float(np.mean(seg_excursion[:, s])) for s in range(6)},
        "segment_kinesis": dict(zip(SAX_SEGMENTS, sax.kinesis)),
        "epi_eda_mm2": float(np.mean(epi_area[ed])), "wall_motion_sax": motion,
        "akinetic_extent_pct": motion["akinetic_extent_pct"], "wmsi": motion["wmsi"],
        "segment_names": list(SAX_SEGMENTS),
    }
    curves = {"area_mm2": area, "gcs_curve_pct": 100.0 * (perim - perim[ed[0]]) / perim[ed[0]], "lvid_mm": lvid}
    return truth, curves
