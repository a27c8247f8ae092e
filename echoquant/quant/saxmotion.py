"""Short-axis (SAX) wall mechanics of one beat: LV internal diameter and FS across the
short axis, circumferential strain from speckle tracking (global and by segment), wall
thickness, radial strain and thickening by segment, and each segment's wall motion.

Definitions (the generator's truth, :func:`echoquant.synth.sax.sax_truth`, uses the same):

- **Centre**: the centroid of the ED cavity; **rays** from it at 72 screen angles (0 =
  screen right, clockwise positive, as :data:`~echoquant.synth.sax.SAX_SEGMENT_ANGLES_DEG`);
  a ray belongs to the segment whose centre angle is nearest (six 60-degree segments,
  :data:`~echoquant.quant.sax.SAX_SEGMENT_NAMES`, anterior at the top).
- **LVID**: the cavity's chord on the vertical line (the beam, where an M-mode cursor
  crosses a SAX) through the ED centre, at ED and at ES; ``FS = 100 (LVIDd - LVIDs) / LVIDd``.
- **Wall thickness** on each ray: from the cavity border to the outer border of LV cavity
  plus myocardium; **GRS** = change of the mean thickness ED -> ES (%), at ES with the
  segmented cavity border or the ring GCS took (below) as the inner border, whichever
  thickened more; **thickening** of a segment = change of its mean thickness (%).
- **Excursion** of a segment: how much closer its endocardium comes to the ED centre,
  % of its ED distance.
- **GCS**: the ED cavity border (resampled to 120 points from the anterior segment's
  start, clockwise) is tracked through the beat (Lucas-Kanade,
  :func:`~echoquant.quant.strain.track_line`); at ES its points either held on that
  frame's segmented border or as tracked (in the tracked line's own smallest-area frame,
  where FAC reads it), whichever closed line shortened more (both
  under-read a strongly contracting ring; with exact masks the held line is exact), and
  that line's Lagrangian strain at ES is GCS; each sixth of the line (20 points) gives
  its segment's circumferential strain (the six arcs start where the segments do, so on
  a near-round section they are the segments).
- **Tracked systole**: the same tracked ring's smallest area in the beat over its
  largest, and its LVID in that frame, which :mod:`echoquant.quant.sax` uses for ESA,
  FAC, LVIDs and FS where the ring moved further in than the segmented ES border.
- **Wall motion**: per segment the kinesis index of its circumferential strain and
  excursion (thickening in place of a missing one; normal references and cut points of
  :mod:`echoquant.quant.wallmotion`), classed normal/hypokinetic/akinetic/dyskinetic;
  ``akinetic_extent_pct`` is the ED endocardial arc of akinetic or dyskinetic segments
  as % of the assessable arc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoquant.geometry import chord_across, line_crossings, polygon_area, resample_polyline
from echoquant.quant.contour import closed_border
from echoquant.quant.cycle import Beat
from echoquant.quant.strain import MAX_FB_FAILURE, line_strain_pct, track_line
from echoquant.quant.wallmotion import (WALL_MOTION_SCORES, SegmentMotion, WallMotion, kinesis_index,
                                        wall_motion_class)

__all__ = ["N_RAYS", "SaxBeatMotion", "ray_segments", "sax_beat_motion", "sax_wall_motion",
           "SEGMENT_CENTRES_DEG"]

# Segment centres on screen (deg; 0 = screen right, clockwise positive): anterior at the
# top, anterolateral, inferolateral, inferior, inferoseptal, anteroseptal.
SEGMENT_CENTRES_DEG = (-90.0, -30.0, 30.0, 90.0, 150.0, -150.0)
N_RAYS = 72
_TRACK_POINTS = 120


def ray_segments(angles_rad: np.ndarray) -> np.ndarray:
    """Segment index (0-5) of each screen angle."""
    c = np.radians(np.asarray(SEGMENT_CENTRES_DEG))
    d = np.angle(np.exp(1j * (np.asarray(angles_rad)[:, None] - c[None, :])))
    return np.argmin(np.abs(d), axis=1)


@dataclass
class SaxBeatMotion:
    """What one SAX beat measured (lengths in mm, or px uncalibrated)."""

    lvidd: float | None
    lvids: float | None
    fs_pct: float | None
    gcs_pct: float | None
    grs_pct: float | None
    segment_strain_pct: list[float | None]
    segment_thickening_pct: list[float | None]
    segment_excursion_pct: list[float | None]
    segment_ed_thickness: list[float | None]
    segment_ed_arc: list[float]
    epi_area_ed: float | None
    fb_failure: float | None = None
    # The tracked ED border at ES, not held on the segmentation: its area over the ED
    # border's area, and its LVID (mm, or px uncalibrated). None without tracking.
    tracked_es_area_ratio: float | None = None
    tracked_lvids: float | None = None
    beat: Beat | None = None


def _scale(spacing_mm: tuple[float, float] | None) -> np.ndarray:
    return np.array([1.0, 1.0]) if spacing_mm is None else np.array([spacing_mm[1], spacing_mm[0]])


def _rays(origin: np.ndarray, inner: np.ndarray, outer: np.ndarray | None, angles: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the inner border and wall thickness along each ray (NaN where not found)."""
    r_in, thick = np.full(len(angles), np.nan), np.full(len(angles), np.nan)
    for k, a in enumerate(angles):
        d = np.array([np.cos(a), np.sin(a)])
        t = line_crossings(origin, d, inner)
        t = t[t > 0]
        if not len(t):
            continue
        r_in[k] = t.min()
        if outer is not None:
            u = line_crossings(origin, d, outer)
            u = u[u > r_in[k] + 1e-6]
            if len(u):
                thick[k] = u.min() - r_in[k]
    return r_in, thick


def _start_at_anterior(border: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The closed border resampled to :data:`_TRACK_POINTS` + 1 points (closed), from
    the anterior segment's start (-120 deg) clockwise on screen."""
    ang = np.arctan2(border[:, 1] - centre[1], border[:, 0] - centre[0])
    # clockwise on screen = increasing screen angle; orient the polygon that way
    if np.sum(np.diff(np.unwrap(ang))) < 0:
        border = border[::-1]
        ang = ang[::-1]
    start = int(np.argmin(np.abs(np.angle(np.exp(1j * (ang - np.radians(-120.0)))))))
    ring = np.vstack([np.roll(border, -start, axis=0), np.roll(border, -start, axis=0)[:1]])
    return resample_polyline(ring, _TRACK_POINTS + 1)


def _snap_closed(points: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Each tracked point moved to the nearest point of the frame's border polygon."""
    a, b = border, np.roll(border, -1, axis=0)
    ab = b - a
    out = np.empty_like(points)
    for i, p in enumerate(points):
        t = np.clip(np.sum((p - a) * ab, axis=1) / np.maximum(np.sum(ab * ab, axis=1), 1e-12), 0.0, 1.0)
        q = a + t[:, None] * ab
        out[i] = q[int(np.argmin(np.sum((q - p) ** 2, axis=1)))]
    return out


def _segment_means(values: np.ndarray, seg: np.ndarray) -> list[float | None]:
    out: list[float | None] = []
    for s in range(6):
        v = values[seg == s]
        v = v[np.isfinite(v)]
        out.append(float(v.mean()) if len(v) else None)
    return out


def _change(a: list[float | None], b: list[float | None]) -> list[float | None]:
    return [None if x is None or y is None or x <= 0 else 100.0 * (y - x) / x for x, y in zip(a, b)]


def sax_beat_motion(frames: np.ndarray, cavity: np.ndarray, myocardium: np.ndarray, beat: Beat,
                    spacing_mm: tuple[float, float] | None, track: bool = True) -> SaxBeatMotion | None:
    """One SAX beat's dimensions and mechanics (see the module docstring).

    Args:
        frames: ``(T, H, W)`` uint8 loop (for tracking).
        cavity: ``(T, H, W)`` bool cleaned cavity.
        myocardium: ``(T, H, W)`` bool LV myocardium.
        beat: the beat (ED, ES, next ED).
        spacing_mm: ``(row, col)`` mm per pixel, or None (lengths in px).
        track: run speckle tracking for GCS.

    Returns:
        The beat's values, or None when its ED or ES cavity has no border.
    """
    scale = _scale(spacing_mm)
    inner = {t: closed_border(cavity[t]) for t in (beat.ed, beat.es)}
    if any(v is None for v in inner.values()):
        return None
    outer = {t: closed_border(cavity[t] | myocardium[t]) for t in (beat.ed, beat.es)}
    rows, cols = np.nonzero(cavity[beat.ed])
    centre_px = np.array([cols.mean(), rows.mean()])
    centre = centre_px * scale
    mm = {t: inner[t] * scale for t in inner}
    omm = {t: None if outer[t] is None else outer[t] * scale for t in outer}
    # LVID on the vertical (beam) line through the ED centre.
    chords = [chord_across(centre, np.array([0.0, 1.0]), mm[t]) for t in (beat.ed, beat.es)]
    lvidd, lvids = (None if c is None else c[1] - c[0] for c in chords)
    fs = None if not lvidd or lvids is None else 100.0 * (lvidd - lvids) / lvidd
    angles = np.linspace(-np.pi, np.pi, N_RAYS, endpoint=False)
    seg = ray_segments(angles)
    r_ed, th_ed = _rays(centre, mm[beat.ed], omm[beat.ed], angles)
    r_es, th_es = _rays(centre, mm[beat.es], omm[beat.es], angles)
    grs = None
    if np.isfinite(th_ed).sum() >= N_RAYS // 2 and np.isfinite(th_es).sum() >= N_RAYS // 2:
        grs = 100.0 * (np.nanmean(th_es) - np.nanmean(th_ed)) / np.nanmean(th_ed)
    thick_ed, thick_es = _segment_means(th_ed, seg), _segment_means(th_es, seg)
    excursion = [None if a is None or b is None or a <= 0 else 100.0 * (a - b) / a
                 for a, b in zip(_segment_means(r_ed, seg), _segment_means(r_es, seg))]
    ring = _start_at_anterior(inner[beat.ed], centre_px)
    arcs = np.linalg.norm(np.diff(ring * scale, axis=0), axis=1).reshape(6, -1).sum(axis=1).tolist()
    gcs, seg_strain, fb, ratio, lvids_tracked = None, [None] * 6, None, None, None
    if track:
        circ = _circumferential(frames, cavity, ring, beat, spacing_mm, centre)
        gcs, seg_strain, fb, ratio, lvids_tracked = (circ.gcs_pct, circ.segment_strain_pct, circ.fb_failure,
                                                     circ.es_area_ratio, circ.lvids)
        if circ.fb_failure <= MAX_FB_FAILURE:  # tracking that failed its check does not vote
            grs = _larger_thickening(grs, th_ed, _tracked_thickness(circ, cavity, myocardium, centre, scale, angles))
    epi_area = None if omm[beat.ed] is None else polygon_area(omm[beat.ed])
    return SaxBeatMotion(lvidd, lvids, fs, gcs, grs, seg_strain, _change(thick_ed, thick_es), excursion,
                         thick_ed, arcs, epi_area, fb, ratio, lvids_tracked, beat)


def _tracked_thickness(circ: _Circumferential, cavity: np.ndarray, myocardium: np.ndarray, centre: np.ndarray,
                       scale: np.ndarray, angles: np.ndarray) -> np.ndarray | None:
    """Wall thickness (mm or px) along each ray at ES from the ring GCS took (the ED
    border tracked, or held on the segmented border) to the segmented outer border of
    that frame; None when that frame has no outer border."""
    outer = closed_border(cavity[circ.es_frame] | myocardium[circ.es_frame])
    if outer is None:
        return None
    return _rays(centre, circ.es_ring * scale, outer * scale, angles)[1]


def _larger_thickening(grs: float | None, th_ed: np.ndarray, th_es_tracked: np.ndarray | None) -> float | None:
    """GRS from the segmented ES borders, or from the tracked ES endocardium, whichever
    thickened more: both under-read systolic thickening (the network draws a small
    rodent heart's ES cavity too large, so its ES wall too thin; the tracker
    under-follows a strongly contracting wall), as for FAC and GCS. With exact masks the
    held ring lies on the segmented border and both agree, unless the free tracked ring
    shortened more (then GRS may read a little high: true-mask MAE 0.51 -> 0.60 points on
    docs/preclinical_eval.md's hearts)."""
    if th_es_tracked is None or np.isfinite(th_es_tracked).sum() < N_RAYS // 2 or np.isfinite(th_ed).sum() < N_RAYS // 2:
        return grs
    tracked = 100.0 * (np.nanmean(th_es_tracked) - np.nanmean(th_ed)) / np.nanmean(th_ed)
    return tracked if grs is None or tracked > grs else grs


def _tracked_systole(rings: np.ndarray, centre_mm: np.ndarray, scale: np.ndarray
                     ) -> tuple[int, float | None, float | None]:
    """The frame (from ED) where the tracked ring's area is smallest, that area over the
    largest in the beat, and the ring's LVID there (on the vertical line through the ED
    centre).

    The extremes of the tracked area, not its values at the ED and ES frames found on the
    segmented area curve: a low-FAC heart's segmented curve has a flat top, and an ED
    frame found a few frames early (4-5 of 26 in a generated mouse aneurysm) loses a
    third of its FAC when the ring is read at fixed frames.
    """
    areas = np.array([polygon_area(r) for r in rings])
    k = int(np.argmin(areas)) if len(areas) else 0
    if not len(areas) or not np.all(np.isfinite(areas)) or areas.max() <= 0:
        return k, None, None
    chord = chord_across(centre_mm, np.array([0.0, 1.0]), rings[k] * scale)
    return k, float(areas[k] / areas.max()), None if chord is None else chord[1] - chord[0]


@dataclass
class _Circumferential:
    """What tracking the ED border through one beat gave (see :func:`_circumferential`)."""

    gcs_pct: float | None
    segment_strain_pct: list[float | None]
    fb_failure: float
    es_area_ratio: float | None
    lvids: float | None
    es_frame: int  # the frame of the ES ring below
    es_ring: np.ndarray  # (N + 1, 2) px, closed: the ED border at ES as GCS took it


def _circumferential(frames: np.ndarray, cavity: np.ndarray, ring: np.ndarray, beat: Beat,
                     spacing_mm: tuple[float, float] | None, centre_mm: np.ndarray) -> _Circumferential:
    """Track the ring through the beat: GCS and segment circumferential strains at ES
    (held on the segmented border or not, whichever shortened more, and that ring with
    its frame), the forward-backward failure rate, and the free ring's systole
    (:func:`_tracked_systole`: smallest over largest area, LVID in that frame)."""
    n = len(frames)
    stop = beat.next_ed if beat.next_ed is not None else min(n - 1, beat.es + max(1, (beat.es - beat.ed) // 4))
    line = track_line(frames, ring[:-1], beat.ed, stop, drift_correct=beat.next_ed is not None)
    k = beat.es - beat.ed
    border = closed_border(cavity[beat.es])
    # Held on the segmented ES border, or as tracked, whichever shortened more: both
    # under-read a strongly contracting ring (the network's ES border lies outward, the
    # tracker under-follows), and with exact masks the held ring is exact and wins
    # (see echoquant.quant.sax._areas_from_tracking for the same rule on areas).
    closed, gcs, es_frame = None, None, beat.es
    # The free line at its own end-systole (smallest area in the beat), as FAC reads it.
    k_free, ratio, lvids = _tracked_systole(line.positions, centre_mm, _scale(spacing_mm))
    candidates = ((beat.ed + k_free, line.positions[k_free]),
                  (beat.es, None if border is None else _snap_closed(line.positions[k], border)))
    for frame, es in candidates:
        if es is None:
            continue
        pos = np.stack([ring[:-1], es])
        c = np.concatenate([pos, pos[:, :1]], axis=1)
        g = float(line_strain_pct(c, spacing_mm)[1])
        if gcs is None or g <= gcs:
            closed, gcs, es_frame = c, g, frame
    per = _TRACK_POINTS // 6
    seg = [float(line_strain_pct(closed[:, s * per:(s + 1) * per + 1], spacing_mm, node_step=2)[1])
           for s in range(6)]
    return _Circumferential(gcs, seg, float(line.fb_failure), ratio, lvids, es_frame, closed[1])


def sax_wall_motion(beats: list[SaxBeatMotion], names: tuple[str, ...], calibrated: bool) -> WallMotion:
    """Per segment, medians over the beats of strain, excursion and thickening, classed."""
    if not beats:
        return WallMotion([])
    out = []
    for s, name in enumerate(names):
        def med(attr: str) -> float | None:
            v = [getattr(b, attr)[s] for b in beats if getattr(b, attr)[s] is not None]
            return float(np.median(v)) if v else None

        strain, exc, thick = med("segment_strain_pct"), med("segment_excursion_pct"), med("segment_thickening_pct")
        index, parts = kinesis_index(strain, exc, thick)
        cls = wall_motion_class(index if len(parts) >= 2 else None)
        ed_t = med("segment_ed_thickness")
        out.append(SegmentMotion(name, cls, WALL_MOTION_SCORES.get(cls), index, strain, exc, thick,
                                 ed_t if calibrated else None, float(np.median([b.segment_ed_arc[s] for b in beats])),
                                 None if len(parts) >= 2 else "fewer than two of strain, excursion, thickening"))
    return WallMotion(out)
