"""A reader's corrections of one loop (:class:`ReaderEdits`): moved end-diastole and
end-systole frames and redrawn LV cavity borders, which :func:`echoquant.quant.quantify`
applies before it measures, so an over-read clip is re-measured by the same code as
``echoquant analyze``.

Conventions:

- ``ed_frames``/``es_frames``: one ED and one ES frame per beat, in the order of the
  beats, each ES after its ED and before the next beat's ED.
- ``contours``: frame index -> ``(N, 2)`` ``(x, y)`` pixel polygon of the LV cavity
  border on that frame (N >= 3); the cavity becomes the polygon's inside on that frame,
  after the automatic mask cleaning (so the temporal vote never blends the reader's
  border with its neighbours). In long-axis views the polygon is the trace as the
  contours run (mitral hinge -> apex -> other hinge, closed by the annulus line) and
  becomes that frame's contour as drawn, landmarks included; in a short axis it is the
  closed cavity border.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from skimage.draw import polygon2mask

from echoquant.quant.contour import contour_from_trace
from echoquant.quant.cycle import Beat
from echoquant.segment.result import Segmentation

__all__ = ["ReaderEdits", "polygon_mask"]


def polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool: pixels whose centre lies inside the ``(x, y)`` polygon ``points``.

    The centre rule inverts the contour tracing (:func:`skimage.measure.find_contours`
    at level 0.5, half-way between cavity and wall pixel centres): a border redrawn
    where it was traced gives back the same pixels, so the same volume.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"a contour must be at least 3 (x, y) points, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("a contour point is not a finite number")
    return polygon2mask(shape, pts[:, ::-1])


@dataclass(frozen=True)
class ReaderEdits:
    """What a reader changed on one loop (see the module docstring).

    Attributes:
        ed_frames: ED frame per beat, or None to keep the detected beats.
        es_frames: ES frame per beat (same length as ``ed_frames``).
        contours: frame -> ``(N, 2)`` ``(x, y)`` cavity border polygon.
    """

    ed_frames: tuple[int, ...] | None = None
    es_frames: tuple[int, ...] | None = None
    contours: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.ed_frames is None and not self.contours

    def check(self, n_frames: int, shape: tuple[int, int]) -> None:
        """Raise ``ValueError`` (saying what is wrong) unless the edits fit a loop of
        ``n_frames`` frames of ``shape``."""
        if (self.ed_frames is None) != (self.es_frames is None):
            raise ValueError("give both ed_frames and es_frames (one ED and one ES frame per beat), got only one")
        if self.ed_frames is not None:
            ed, es = list(self.ed_frames), list(self.es_frames or ())
            if len(ed) != len(es) or not ed:
                raise ValueError(f"ed_frames and es_frames need one entry per beat, got {len(ed)} ED and {len(es)} ES")
            for i, (a, b) in enumerate(zip(ed, es)):
                if not (0 <= a < b < n_frames):
                    raise ValueError(f"beat {i}: ED frame {a} must come before ES frame {b}, both in 0..{n_frames - 1}")
                if i + 1 < len(ed) and not b < ed[i + 1]:
                    raise ValueError(f"beat {i}: ES frame {b} must come before the next beat's ED frame {ed[i + 1]}")
        for t, pts in self.contours.items():
            if not 0 <= int(t) < n_frames:
                raise ValueError(f"contour on frame {t}, but the loop has frames 0..{n_frames - 1}")
            if not polygon_mask(pts, shape).any():
                raise ValueError(f"the contour on frame {t} encloses no pixel of the {shape[1]}x{shape[0]} image")

    def beats(self) -> list[Beat] | None:
        """The reader's beats (the next beat's ED closes each but the last), or None."""
        if self.ed_frames is None or self.es_frames is None:
            return None
        ed = [int(x) for x in self.ed_frames]
        return [Beat(a, int(b), ed[i + 1] if i + 1 < len(ed) else None) for i, (a, b) in enumerate(zip(ed, self.es_frames))]

    def apply_cavity(self, cavity: np.ndarray) -> np.ndarray:
        """The cleaned ``(T, H, W)`` cavity masks with the reader's borders drawn in."""
        if not self.contours:
            return cavity
        out = cavity.copy()
        for t, pts in self.contours.items():
            out[int(t)] = polygon_mask(pts, cavity.shape[1:])
        return out

    def apply_traces(self, contours: list) -> list:
        """Long-axis contours with the reader's traces (hinge -> apex -> hinge) in place of
        those re-found on their frames (:func:`~echoquant.quant.contour.contour_from_trace`)."""
        if not self.contours:
            return contours
        out = list(contours)
        for t, pts in self.contours.items():
            out[int(t)] = contour_from_trace(pts)
        return out

    def apply_segmentation(self, seg: Segmentation, cavity: np.ndarray) -> Segmentation:
        """``seg`` with the border uncertainty of redrawn frames moved with the border:
        each probability level's area scaled by new/old cavity area (the reader fixed the
        border, not the image's ambiguity, so the interval keeps its relative width)."""
        if not self.contours or seg.lv_area_levels is None:
            return seg
        levels = seg.lv_area_levels.astype(np.float64).copy()
        for t in self.contours:
            old = float(cavity[int(t)].sum())
            new = float(polygon_mask(self.contours[t], cavity.shape[1:]).sum())
            levels[int(t)] = levels[int(t)] * (new / old) if old > 0 else new
        return replace(seg, lv_area_levels=levels)
