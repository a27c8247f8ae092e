"""Regional wall motion: a wall-motion class per segment, the wall motion score index
(WMSI) and the extent of akinetic or dyskinetic wall, from one end-diastole and the
following end-systole.

Every segment (a third of one wall, :data:`~echoquant.quant.strain.SEGMENT_SLICES`)
is described by up to three measurements, each a change from ED to ES:

* ``strain_pct``: its longitudinal strain (negative = shortening);
* ``excursion_pct``: how much closer its endocardium comes to the LV centre line
  (apex to mid-annulus, each frame's own), as % of the ED distance; negative when
  the wall moves outwards;
* ``thickening_pct``: the change of its myocardial thickness, % of the ED thickness;
  negative when the wall thins.

Each is divided by a normal segment's value (:data:`NORMAL_REFERENCE`) into a
*kinesis index* (1 = normal motion, 0 = none, below 0 = paradoxical; clipped to
-1..1.5, since hyperkinesis is scored normal). The segment's index is the mean of
its strain and excursion indices; thickening takes the place of either when it is
missing (tracking withheld, say), and is always reported. Thickening does not vote
beside the other two because a 2-D myocardium outline measures it poorly: on the
expert outlines of normal CAMUS hearts its 10th percentile is 0 % (strain and
excursion keep their sign in 90 % of segments), and with the shipped network on
generated hearts its error is 0.74 of normal (SD) against 0.17 for strain and 0.16
for excursion (``docs/wall_motion_eval.md``).

The classes follow the ASE/EACVI wall-motion scale (Lang et al., J Am Soc Echocardiogr
2015;28:1-39): normal (score 1), hypokinetic (2, reduced thickening, < 30 %), akinetic
(3, absent or negligible thickening, < 10 %), dyskinetic (4, systolic thinning,
stretching or outward motion). Against a normal thickening of 50 % those cut points are
0.6 and 0.2 of normal; the same fractions are applied to the index:
``normal >= 0.6 > hypokinetic >= 0.2 > akinetic >= -0.1 > dyskinetic``. Dyskinesis
needs the paradoxical motion to exceed a tenth of normal, so that an akinetic wall's
measurement noise around zero is not called dyskinetic.

The normal values are those of the measurement itself on normal hearts: on the expert
outlines of the 73 CAMUS *train* patients with a reference LVEF >= 55 % (ED/ES
contours matched by arc length, ``scripts/eval_wall_motion_camus.py --split train``)
the median segment has strain -22 %, excursion 36 % and thickening 20 % (24 % since
thickness is measured on the imaged myocardium only; the network's outlines give
16-19 %). Strain keeps the guideline's -20 % (normal GLS about -20 %), excursion is
35 %, thickening 20 % (a smoothly drawn epicardium shows far less than the 40-60 % of
true wall thickening). The rule is checked for false alarms on the *valid* split
(``docs/wall_motion_camus.md``).

A segment is *not assessable*, never guessed, when it lies at the edge of the scan
sector (its wall is cut off or in drop-out), when fewer than two of the three
measurements exist, or when the two averaged contradict each other (indices more
than :data:`MAX_DISAGREEMENT` apart: one says normal, the other none).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

from echoquant.quant.strain import SEGMENT_SLICES

__all__ = ["WALL_MOTION_CLASSES", "WALL_MOTION_SCORES", "NOT_ASSESSABLE", "NORMAL_REFERENCE", "MAX_DISAGREEMENT",
           "SegmentMotion", "WallMotion", "kinesis_index", "wall_motion_class", "excursion_pct",
           "wall_thickness_px", "segment_wall_motion", "summarise_wall_motion", "NOT_ASSESSED",
           "beat_wall_motion", "sector_edge_distance", "EDGE_PX"]

WALL_MOTION_CLASSES = ("normal", "hypokinetic", "akinetic", "dyskinetic")
WALL_MOTION_SCORES = {c: i + 1 for i, c in enumerate(WALL_MOTION_CLASSES)}
NOT_ASSESSABLE = "not_assessable"
# The whole-loop result when wall motion was not measured (no tracking, no beats).
NOT_ASSESSED: dict = {"wmsi": None, "akinetic_extent_pct": None, "thinnest_wall_ed_mm": None,
                      "n_segments_assessable": 0, "segments": []}

# A normal segment's ED -> ES change as measured (see the module docstring for the sources).
NORMAL_REFERENCE = {"strain_pct": -20.0, "excursion_pct": 35.0, "thickening_pct": 20.0}
# Index range kept: hyperkinesis is normal, and one wild value must not swamp the others.
_INDEX_RANGE = (-1.0, 1.5)
# Kinesis-index cut points: normal >= 0.6 > hypokinetic >= 0.2 > akinetic >= -0.1 > dyskinetic.
_CUTS = ((0.6, "normal"), (0.2, "hypokinetic"), (-0.1, "akinetic"))
# Indices of one segment further apart than this contradict each other.
MAX_DISAGREEMENT = 1.0
# Share of a segment's points at the sector edge above which it is not assessable.
_EDGE_SHARE = 0.3


def kinesis_index(strain_pct: float | None = None, excursion_pct: float | None = None,
                  thickening_pct: float | None = None) -> tuple[float | None, list[float]]:
    """Motion of a segment as a fraction of normal: the mean of the strain and excursion
    indices; thickening takes the place of either when it is missing.

    Returns:
        ``(index or None, the indices averaged)``, each clipped to -1..1.5; None when
        nothing is given.
    """
    def part(key: str, v: float | None) -> float | None:
        if v is None or not np.isfinite(v):
            return None
        return float(np.clip(float(v) / NORMAL_REFERENCE[key], *_INDEX_RANGE))

    primary = [p for p in (part("strain_pct", strain_pct), part("excursion_pct", excursion_pct)) if p is not None]
    thick = part("thickening_pct", thickening_pct)
    parts = primary if len(primary) == 2 or thick is None else primary + [thick]
    return (float(np.mean(parts)) if parts else None), parts


def wall_motion_class(index: float | None) -> str:
    """The class of a kinesis index (:data:`WALL_MOTION_CLASSES`), or
    :data:`NOT_ASSESSABLE` for None."""
    if index is None or not np.isfinite(index):
        return NOT_ASSESSABLE
    for cut, name in _CUTS:
        if index >= cut:
            return name
    return "dyskinetic"


def _to_mm(points: np.ndarray, spacing_mm: tuple[float, float] | None) -> np.ndarray:
    """``(x, y)`` pixels to mm (``spacing_mm`` is ``(row, col)``); pixels when None."""
    if spacing_mm is None:
        return np.asarray(points, dtype=np.float64)
    return np.asarray(points, dtype=np.float64) * np.array([spacing_mm[1], spacing_mm[0]])


def _distance_to_centre_line(points: np.ndarray, line_of: np.ndarray | None = None) -> np.ndarray:
    """Distance of each contour point to the line from the apex (middle point) to the
    middle of the two hinges (end points) of ``line_of`` (default ``points``)."""
    ref = points if line_of is None else line_of
    apex = ref[len(ref) // 2]
    base = 0.5 * (ref[0] + ref[-1])
    axis = base - apex
    axis = axis / (np.linalg.norm(axis) + 1e-12)
    rel = points - apex
    return np.abs(rel[:, 0] * axis[1] - rel[:, 1] * axis[0])


def _superimpose(ed: np.ndarray, es: np.ndarray) -> np.ndarray:
    """``es`` moved rigidly onto ``ed``: translated so the apices (middle points)
    coincide, then turned about the apex by the angle that best superimposes all
    points (least squares)."""
    apex = ed[len(ed) // 2]
    p = es - es[len(es) // 2]
    q = ed - apex
    angle = np.arctan2((p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum(), (p * q).sum())
    c, s = np.cos(angle), np.sin(angle)
    return apex + np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], axis=1)


def excursion_pct(ed_points: np.ndarray, es_points: np.ndarray, spacing_mm: tuple[float, float] | None = None
                  ) -> np.ndarray:
    """Inward endocardial excursion of each segment toward the LV centre line, % of its
    ED distance (material points: ``es_points[i]`` is where ``ed_points[i]`` went).

    The centre line is the ED one (apex to mid-annulus), as in the centreline method.
    The ES points are first superimposed on the ED ones by a rigid move (apex onto
    apex, then the best rotation about it): the heart's translation and turning in the
    image are not wall motion. An ES centre line through the ES mid-annulus instead
    would float with the walls: an akinetic basal segment holds its hinge, the line
    tilts toward it, and the remote wall, moving normally, would seem to move less.
    Points close to the centre line (the apex tip) weigh less: a segment's value is
    the sum of distance changes over the sum of ED distances.

    One contour pair cannot tell a turning heart from walls that move unequally: with
    one whole wall moving 30 % inward and the other not at all, 16-27 % and 4-14 % are
    measured (basal, mid, apical: 16/14, 22/8, 27/4 %) (a floating centre line gives 18-27 % and 3-12 %; no rotation correction,
    exact on this case, mistakes a 5 degree turn of a real heart for +/-20 % basal
    excursion). Localised scar (an akinetic apex beside moving walls) is measured to
    within 3.5 points (segments share their border points). Strain, half of the index, is not affected by rigid motion at all.
    """
    ed = _to_mm(ed_points, spacing_mm)
    es = _superimpose(ed, _to_mm(es_points, spacing_mm))
    d_ed = _distance_to_centre_line(ed)
    d_es = _distance_to_centre_line(es, line_of=ed)
    return np.array([100.0 * (d_ed[s] - d_es[s]).sum() / max(d_ed[s].sum(), 1e-9) for s in SEGMENT_SLICES])


def wall_thickness_px(points: np.ndarray, myo: np.ndarray, max_px: float = 80.0) -> np.ndarray:
    """Myocardial thickness (pixels) along each contour point's outward normal: the
    first run of myocardium met by the ray."""
    steps = np.arange(0.5, max_px, 0.5)
    tangent = np.gradient(points, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    sign = np.sign(np.sum((points - points.mean(axis=0)) * normal, axis=1))
    sign[sign == 0] = 1
    normal *= sign[:, None]
    ray = points[:, None, :] + normal[:, None, :] * steps[None, :, None]
    inside = map_coordinates(myo.astype(np.float32), [ray[..., 1].ravel(), ray[..., 0].ravel()], order=0,
                             mode="constant").reshape(ray.shape[:2]) > 0.5
    started = np.cumsum(inside, axis=1) > 0
    ended = np.cumsum(started & ~inside, axis=1) > 0
    return (inside & ~ended).sum(axis=1) * 0.5


@dataclass
class SegmentMotion:
    """Wall motion of one segment.

    Attributes:
        name: segment name.
        wall_motion: one of :data:`WALL_MOTION_CLASSES` or :data:`NOT_ASSESSABLE`.
        score: 1-4 (None when not assessable).
        kinesis_index: median motion as a fraction of normal.
        strain_pct, excursion_pct, thickening_pct: the measurements behind it.
        ed_thickness_mm: median end-diastolic wall thickness (None uncalibrated).
        ed_length: ED endocardial length of the segment (mm, or px uncalibrated).
        reason: why a segment is not assessable.
    """

    name: str
    wall_motion: str
    score: int | None
    kinesis_index: float | None
    strain_pct: float | None
    excursion_pct: float | None
    thickening_pct: float | None
    ed_thickness_mm: float | None
    ed_length: float
    reason: str | None = None


@dataclass
class WallMotion:
    """Wall motion of one loop (or beat).

    Attributes:
        segments: per segment, in contour order.
        wmsi: mean score over the assessable segments (1 normal ... 4 dyskinetic).
        akinetic_extent_pct: ED endocardial length of akinetic or dyskinetic segments,
            % of the assessable length.
        thinnest_wall_ed_mm: ED wall thickness of the thinnest assessable segment.
    """

    segments: list[SegmentMotion] = field(default_factory=list)

    @property
    def assessable(self) -> list[SegmentMotion]:
        return [s for s in self.segments if s.score is not None]

    @property
    def wmsi(self) -> float | None:
        ok = self.assessable
        return float(np.mean([s.score for s in ok])) if ok else None

    @property
    def akinetic_extent_pct(self) -> float | None:
        ok = self.assessable
        total = sum(s.ed_length for s in ok)
        if not ok or total <= 0:
            return None
        return 100.0 * sum(s.ed_length for s in ok if s.score >= 3) / total

    @property
    def thinnest_wall_ed_mm(self) -> float | None:
        t = [s.ed_thickness_mm for s in self.assessable if s.ed_thickness_mm is not None]
        return float(min(t)) if t else None

    def to_dict(self) -> dict:
        return {"wmsi": self.wmsi, "akinetic_extent_pct": self.akinetic_extent_pct,
                "thinnest_wall_ed_mm": self.thinnest_wall_ed_mm, "n_segments_assessable": len(self.assessable),
                "segments": [asdict(s) for s in self.segments]}


def _segment_lengths(points: np.ndarray, spacing_mm: tuple[float, float] | None) -> np.ndarray:
    p = _to_mm(points, spacing_mm)
    return np.array([float(np.linalg.norm(np.diff(p[s], axis=0), axis=1).sum()) for s in SEGMENT_SLICES])


def _thickness(ed_thick: np.ndarray | None, es_thick: np.ndarray | None, scale: float | None
               ) -> tuple[list[float | None], list[float | None]]:
    """Per segment: thickening % and ED thickness in mm (None where the wall is not
    seen: thinner than 1 px at ED)."""
    thickening: list[float | None] = [None] * 6
    ed_mm: list[float | None] = [None] * 6
    if ed_thick is None or es_thick is None:
        return thickening, ed_mm
    for k, s in enumerate(SEGMENT_SLICES):
        t0, t1 = float(np.median(ed_thick[s])), float(np.median(es_thick[s]))
        if t0 >= 1.0 and t1 > 0:
            thickening[k] = 100.0 * (t1 - t0) / t0
            ed_mm[k] = None if scale is None else t0 * scale
    return thickening, ed_mm


def segment_wall_motion(ed_points: np.ndarray, es_points: np.ndarray, names: tuple[str, ...], *,
                        strain_pct: list[float | None] | None = None, ed_thickness_px: np.ndarray | None = None,
                        es_thickness_px: np.ndarray | None = None, spacing_mm: tuple[float, float] | None = None,
                        at_edge: np.ndarray | None = None, check: bool = True) -> WallMotion:
    """Wall motion of the six segments between one ED and its ES.

    Args:
        ed_points: ``(2 N + 1, 2)`` ED endocardial contour, hinge -> apex -> hinge.
        es_points: the same material points at ES (tracked, or the ES contour).
        names: the six segment names in contour order.
        strain_pct: each segment's ES strain (None where tracking withheld it).
        ed_thickness_px: wall thickness at each ED point (:func:`wall_thickness_px`).
        es_thickness_px: the same at each ES point.
        spacing_mm: ``(row, col)`` pixel size; None when uncalibrated (ratios are
            unaffected; thicknesses are then not reported in mm).
        at_edge: ``(2 N + 1,)`` bool, points at the scan-sector edge (in ED or ES).
        check: apply the assessability checks (off for exact truth, where every
            measurement is known).

    Returns:
        A :class:`WallMotion`.
    """
    if len(names) != len(SEGMENT_SLICES):
        raise ValueError(f"need {len(SEGMENT_SLICES)} segment names, got {len(names)}")
    if ed_points.shape != es_points.shape:
        raise ValueError(f"ED and ES points differ in shape: {ed_points.shape} vs {es_points.shape}")
    excursion = excursion_pct(ed_points, es_points, spacing_mm)
    lengths = _segment_lengths(ed_points, spacing_mm)
    scale = None if spacing_mm is None else float(np.sqrt(spacing_mm[0] * spacing_mm[1]))
    thickening, ed_mm = _thickness(ed_thickness_px, es_thickness_px, scale)
    strain = list(strain_pct) if strain_pct is not None else [None] * 6
    out = []
    for k, s in enumerate(SEGMENT_SLICES):
        index, parts = kinesis_index(strain[k], float(excursion[k]), thickening[k])
        reason = None
        if not check:
            reason = None if parts else "nothing measured"
        elif at_edge is not None and float(np.mean(at_edge[s])) > _EDGE_SHARE:
            reason = "at the edge of the scan sector"
        elif len(parts) < 2:
            reason = "fewer than two of strain, excursion and thickening measured"
        elif max(parts) - min(parts) > MAX_DISAGREEMENT:
            reason = f"the measurements disagree (indices {min(parts):.2f} to {max(parts):.2f} of normal)"
        cls = NOT_ASSESSABLE if reason else wall_motion_class(index)
        out.append(SegmentMotion(names[k], cls, WALL_MOTION_SCORES.get(cls), index, strain[k], float(excursion[k]),
                                 thickening[k], ed_mm[k], float(lengths[k]), reason))
    return WallMotion(out)


def summarise_wall_motion(beats: list[WallMotion]) -> WallMotion:
    """One loop's wall motion from its beats: per segment the median of each
    measurement over the beats where it was assessable, classed again."""
    if not beats:
        return WallMotion([])
    out = []
    for k, first in enumerate(beats[0].segments):
        seen = [b.segments[k] for b in beats if b.segments[k].score is not None]
        if not seen:
            out.append(first)
            continue

        def med(attr: str) -> float | None:
            v = [getattr(s, attr) for s in seen if getattr(s, attr) is not None]
            return float(np.median(v)) if v else None

        index = med("kinesis_index")
        cls = wall_motion_class(index)
        out.append(SegmentMotion(first.name, cls, WALL_MOTION_SCORES.get(cls), index, med("strain_pct"),
                                 med("excursion_pct"), med("thickening_pct"), med("ed_thickness_mm"),
                                 float(np.median([s.ed_length for s in seen]))))
    return WallMotion(out)


# Contour points closer than this (px) to the sector edge lie in its drop-out and clipping.
EDGE_PX = 3.0


def sector_edge_distance(fan_mask: np.ndarray) -> np.ndarray:
    """Distance (px) of every pixel to the outside of the scan sector."""
    return cv2.distanceTransform(fan_mask.astype(np.uint8), cv2.DIST_L2, 3)


def _contour_strain_pct(ed_points: np.ndarray, es_points: np.ndarray, spacing_mm: tuple[float, float] | None
                        ) -> list[float]:
    l0, l1 = _segment_lengths(ed_points, spacing_mm), _segment_lengths(es_points, spacing_mm)
    return [float(100.0 * (b - a) / max(a, 1e-9)) for a, b in zip(l0, l1)]


def beat_wall_motion(ed_points: np.ndarray, es_points: np.ndarray, myo_ed: np.ndarray, myo_es: np.ndarray,
                     edge_distance: np.ndarray, names: tuple[str, ...], *,
                     spacing_mm: tuple[float, float] | None = None,
                     strain_pct: list[float | None] | None = None,
                     es_border_points: np.ndarray | None = None) -> WallMotion:
    """Wall motion from an ED contour, the same points at ES, and the myocardium masks.

    Args:
        ed_points: ED endocardial contour (``(x, y)`` px), hinge -> apex -> hinge.
        es_points: the same material points at ES (tracked), or the ES contour
            (points matched by arc length).
        myo_ed: ED myocardium mask (empty: thickening is not measured).
        myo_es: ES myocardium mask.
        edge_distance: :func:`sector_edge_distance` of the loop's scan sector.
        names: the six segment names.
        spacing_mm: ``(row, col)`` pixel size, None uncalibrated.
        strain_pct: each segment's tracked ES strain; None uses the contour's
            segment lengths.
        es_border_points: the ES points moved onto the segmented border, where the
            ES wall thickness is measured (default ``es_points``).
    """
    strain = _contour_strain_pct(ed_points, es_points, spacing_mm) if strain_pct is None else strain_pct
    border = es_points if es_border_points is None else es_border_points
    thick_ed = wall_thickness_px(ed_points, myo_ed) if myo_ed.any() else None
    thick_es = wall_thickness_px(border, myo_es) if myo_es.any() else None

    def near_edge(p: np.ndarray) -> np.ndarray:
        return map_coordinates(edge_distance, [p[:, 1], p[:, 0]], order=1, mode="constant") < EDGE_PX

    return segment_wall_motion(ed_points, es_points, names, strain_pct=strain, ed_thickness_px=thick_ed,
                               es_thickness_px=thick_es, spacing_mm=spacing_mm,
                               at_edge=near_edge(ed_points) | near_edge(es_points))
