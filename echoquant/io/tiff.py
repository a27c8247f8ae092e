"""Reading multi-page TIFF loops (as Vevo-class software and image tools export them).

A TIFF loop carries neither a trusted pixel spacing nor a frame rate (its resolution
tags describe printing, not the scan): both are None and flagged, and an acquisition
side table (:mod:`echoquant.io.acquisition`) can supply them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echoquant.errors import SingleFrameError, VideoReadError
from echoquant.flags import make_flag
from echoquant.io.cine import CineMeta, EchoCine
from echoquant.io.fan import estimate_fan_mask

__all__ = ["TIFF_SUFFIXES", "read_tiff"]

TIFF_SUFFIXES = {".tif", ".tiff"}


def _grey(page) -> np.ndarray:
    if page.mode in ("I;16", "I;16B", "I"):
        a = np.asarray(page, dtype=np.float64)
        top = a.max() if a.max() > 0 else 1.0
        return np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(page.convert("L"), dtype=np.uint8)


def read_tiff(path: str | Path, *, require_loop: bool = False) -> EchoCine:
    """Read every page of a TIFF as one grey loop.

    Raises:
        VideoReadError: the file cannot be decoded, or its pages differ in size.
        SingleFrameError: one page when a loop is needed.
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            frames = [_grey(p) for p in ImageSequence.Iterator(img)]
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise VideoReadError(f"TIFF cannot be decoded ({type(exc).__name__}: {exc}); export it again as a "
                             "multi-page greyscale or RGB TIFF", path=path) from exc
    if not frames:
        raise VideoReadError("the TIFF holds no image", path=path)
    if len({f.shape for f in frames}) > 1:
        raise VideoReadError(f"the TIFF's pages differ in size ({sorted({f.shape for f in frames})}); a loop needs "
                             "equal frames", path=path)
    if require_loop and len(frames) < 2:
        raise SingleFrameError("the TIFF holds a single page but a loop is needed", path=path)
    stack = np.stack(frames)
    fan_mask, found = estimate_fan_mask(stack)
    flags = [make_flag("calibration_missing", "TIFF loops carry no scan pixel spacing; give spacing_mm in an "
                                              "acquisition table (--acquisition-table)"),
             make_flag("timing_missing", "TIFF loops carry no frame rate; give fps in an acquisition table"),
             make_flag("heart_rate_missing", "TIFF loops carry no heart rate")]
    if not found:
        flags.append(make_flag("fan_not_found", "no moving scan sector found; the whole frame is used"))
    return EchoCine(frames=stack, fps=None, frame_times_ms=None, spacing_mm=None, heart_rate_bpm=None,
                    fan_mask=fan_mask, flags=flags, meta=CineMeta(source_path=str(path)))
