"""Pictures the review page shows: every frame of a loop as one JPEG sprite sheet, so
the browser plays it from one request (:func:`sprite_layout`, :func:`frame_sprite`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

__all__ = ["SpriteLayout", "frame_sprite", "sprite_layout"]

_MAX_SIDE = 16000  # browsers draw images up to about 16k px a side; JPEG allows 65,535


@dataclass(frozen=True)
class SpriteLayout:
    """Where frame ``t`` lies in the sprite: column ``t % cols``, row ``t // cols``;
    tiles are ``tile_w x tile_h`` px, ``scale`` tile px per image px."""

    n_frames: int
    cols: int
    rows: int
    tile_w: int
    tile_h: int
    scale: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def sprite_layout(n_frames: int, height: int, width: int) -> SpriteLayout:
    """The sprite of a ``(n_frames, height, width)`` loop: tiles at most 480 px wide
    (320 px past 60 frames, smaller still if the sheet would pass 16k px a side)."""
    if n_frames < 1 or height < 1 or width < 1:
        raise ValueError(f"a loop needs frames and a size, got {n_frames} frames of {width}x{height}")
    target = 480 if n_frames <= 60 else 320
    cols = max(1, math.ceil(math.sqrt(n_frames)))
    rows = math.ceil(n_frames / cols)
    scale = min(1.0, target / width, _MAX_SIDE / (cols * width), _MAX_SIDE / (rows * height))
    return SpriteLayout(n_frames, cols, rows, max(1, round(width * scale)), max(1, round(height * scale)), scale)


def frame_sprite(frames: np.ndarray, quality: int = 80) -> tuple[bytes, SpriteLayout]:
    """JPEG bytes of all ``(T, H, W)`` uint8 frames tiled row by row, and the layout."""
    t, h, w = frames.shape
    lay = sprite_layout(t, h, w)
    sheet = np.zeros((lay.rows * lay.tile_h, lay.cols * lay.tile_w), dtype=np.uint8)
    for i in range(t):
        tile = cv2.resize(frames[i], (lay.tile_w, lay.tile_h), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, lay.cols)
        sheet[r * lay.tile_h:(r + 1) * lay.tile_h, c * lay.tile_w:(c + 1) * lay.tile_w] = tile
    ok, buf = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the frames could not be encoded as JPEG")
    return buf.tobytes(), lay
