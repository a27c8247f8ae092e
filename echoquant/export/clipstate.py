"""What a clip was measured on, kept beside its record so that it can be shown and
re-measured without the network: ``OUT/masks/<clip_id>.npz`` (:class:`ClipState`).

It holds the segmentation (labels, per-frame confidence, border-uncertainty areas), the
traced contour of every frame, the loop's facts as measured (after an acquisition
table: spacing, timing, heart rate, species, view, flags) and the measurement settings.
With the input file (re-read for its pixels) that is everything :func:`remeasure`
needs to give the same values as ``echoquant analyze``, or new ones after a reader's
:class:`~echoquant.quant.edits.ReaderEdits`.

The file is a compressed ``.npz`` without pickled objects (``allow_pickle=False``):
labels ``(T, H, W)`` uint8 compress to a few hundred kB per loop.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from echoquant._files import atomic_write_bytes
from echoquant.io.cine import CineMeta, EchoCine
from echoquant.quant.edits import ReaderEdits
from echoquant.quant.result import json_safe
from echoquant.results import EchoResult
from echoquant.segment.result import LV_CAVITY, Segmentation

__all__ = ["CLIP_STATE_DIR", "ClipState", "ClipStateError", "remeasure"]

CLIP_STATE_DIR = "masks"
_VERSION = 1


class ClipStateError(ValueError):
    """A clip state file is missing, unreadable or does not fit its loop."""


@dataclass
class ClipState:
    """A measured loop's segmentation, contours, facts and settings.

    Attributes:
        labels: ``(T, H, W)`` uint8 segmentation labels.
        frame_confidence: ``(T,)`` or None.
        lv_area_levels: ``(T, 3)`` or None.
        contours: per frame an ``(N, 2)`` ``(x, y)`` traced border, or None.
        facts: the loop as measured: ``fps, frame_times_ms, spacing_mm,
            heart_rate_bpm, timing_source, calibration_source, flags, meta``.
        settings: ``found_view, track, max_beats``.
        model: the segmentation model's name.
    """

    labels: np.ndarray
    frame_confidence: np.ndarray | None
    lv_area_levels: np.ndarray | None
    contours: list[np.ndarray | None]
    facts: dict[str, Any]
    settings: dict[str, Any]
    model: str

    @classmethod
    def from_result(cls, result: EchoResult) -> ClipState:
        """The state of a freshly scored loop (needs ``result.segmentation``)."""
        seg = result.segmentation
        if seg is None:
            raise ClipStateError("this result carries no segmentation (it was not made by Analyzer.score)")
        info = result.cine_info
        facts = {"fps": info.get("fps"), "frame_times_ms": result.settings.get("frame_times_ms"),
                 "spacing_mm": info.get("spacing_mm"), "heart_rate_bpm": info.get("heart_rate_bpm"),
                 "timing_source": info.get("timing_source"), "calibration_source": info.get("calibration_source"),
                 "flags": list(result.input_flags), "meta": result.meta.to_dict()}
        settings = {k: result.settings.get(k) for k in ("weights", "found_view", "track", "max_beats")}
        return cls(seg.labels.astype(np.uint8), seg.frame_confidence, seg.lv_area_levels,
                   list(result.quant.contours_px), facts, settings, result.model)

    @property
    def n_frames(self) -> int:
        return int(self.labels.shape[0])

    def segmentation(self) -> Segmentation:
        return Segmentation(self.labels, None, self.model, self.frame_confidence, self.lv_area_levels)

    def apply_to(self, cine: EchoCine) -> EchoCine:
        """The re-read loop with the facts it was measured with (e.g. an acquisition
        table's spacing), so that re-measuring it gives the analysed values."""
        if cine.frames.shape != self.labels.shape:
            raise ClipStateError(f"the loop now has frames {cine.frames.shape}, its saved segmentation "
                                 f"{self.labels.shape}: the input changed since it was analysed; analyse it again")
        f = self.facts
        times = f.get("frame_times_ms")
        return replace(cine, fps=f.get("fps"), frame_times_ms=None if times is None else np.asarray(times, float),
                       spacing_mm=None if f.get("spacing_mm") is None else tuple(f["spacing_mm"]),
                       heart_rate_bpm=f.get("heart_rate_bpm"), timing_source=f.get("timing_source"),
                       calibration_source=f.get("calibration_source"), flags=list(f.get("flags") or []),
                       meta=CineMeta(**f.get("meta", {})))

    def write(self, path: str | Path) -> Path:
        """Write atomically to ``path`` (``.npz``)."""
        pts = [np.zeros((0, 2)) if c is None else np.asarray(c, dtype=np.float32) for c in self.contours]
        offsets = np.cumsum([0] + [len(p) for p in pts]).astype(np.int64)
        present = np.array([c is not None for c in self.contours], dtype=bool)
        header = {"version": _VERSION, "facts": self.facts, "settings": self.settings, "model": self.model}
        arrays: dict[str, np.ndarray] = {
            "labels": self.labels, "contour_points": np.concatenate(pts) if pts else np.zeros((0, 2), np.float32),
            "contour_offsets": offsets, "contour_present": present,
            "header": np.array(json.dumps(json_safe(header), allow_nan=False)),
        }
        if self.frame_confidence is not None:
            arrays["frame_confidence"] = np.asarray(self.frame_confidence, dtype=np.float32)
        if self.lv_area_levels is not None:
            arrays["lv_area_levels"] = np.asarray(self.lv_area_levels, dtype=np.float64)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(Path(path), buf.getvalue())
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> ClipState:
        """Read a state written by :meth:`write`.

        Raises:
            ClipStateError: missing or unreadable file.
        """
        p = Path(path)
        if not p.is_file():
            raise ClipStateError(f"no saved segmentation at {p}; analyse the loop again with this echoquant "
                                 "version (older outputs did not keep it)")
        try:
            with np.load(p, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                pts, off, present = z["contour_points"], z["contour_offsets"], z["contour_present"]
                contours = [pts[off[i]:off[i + 1]].astype(np.float64) if present[i] else None
                            for i in range(len(present))]
                conf = z["frame_confidence"] if "frame_confidence" in z.files else None
                levels = z["lv_area_levels"] if "lv_area_levels" in z.files else None
                labels = z["labels"]
        except (OSError, ValueError, KeyError) as exc:
            raise ClipStateError(f"cannot read the saved segmentation {p} ({type(exc).__name__}: {exc}); "
                                 "analyse the loop again") from exc
        return cls(labels, conf, levels, contours, header["facts"], header["settings"], header["model"])

    def cavity_area_px(self) -> np.ndarray:
        """``(T,)`` LV cavity pixels per frame (for a curve when no contour was traced)."""
        return (self.labels == LV_CAVITY).reshape(self.n_frames, -1).sum(axis=1)


def remeasure(path: str | Path, state: ClipState, edits: ReaderEdits | None = None) -> EchoResult:
    """Measure a loop again on its saved segmentation, with a reader's edits: the same
    :func:`~echoquant.quant.quantify` as ``echoquant analyze``, without the network.

    Args:
        path: the input file (re-read for its pixels; the tracker needs them).
        state: its :class:`ClipState`.
        edits: the reader's corrections, or None (then the analysed values come back).

    Raises:
        echoquant.errors.InputError: the file cannot be read any more.
        ClipStateError: the file no longer fits the saved segmentation.
        ValueError: the edits do not fit the loop.
    """
    from echoquant.io import read_cine
    from echoquant.quant.pipeline import quantify

    cine = state.apply_to(read_cine(path, require_loop=True))
    found = state.settings.get("found_view")
    seg = state.segmentation()
    quant = quantify(cine, seg, track=bool(state.settings.get("track", True)),
                     max_beats=state.settings.get("max_beats"), found_view=None if found is None else tuple(found),
                     edits=edits)
    return EchoResult(quant=quant, lv_masks=seg.labels == LV_CAVITY, cine_info=cine.summary(), meta=cine.meta,
                      input_flags=list(cine.flags), model=state.model, path=str(path), segmentation=seg,
                      settings={**state.settings, "frame_times_ms": state.facts.get("frame_times_ms")})
