"""Screen furniture that scanners burn into echo frames outside the sector:
text, a depth scale, and a sweeping ECG trace."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["draw_overlays", "ecg_waveform"]

_WORDS = ("Gen", "THI", "Crd", "P21", "MI 0.9", "TIS 0.7", "Pen", "2D", "HR", "FR", "Res", "Cardiac", "S5-1", "M5Sc")


def ecg_waveform(phase: np.ndarray) -> np.ndarray:
    """A stylised ECG (P, QRS, T) over the cardiac phase (R wave at phase 0)."""
    p = np.mod(phase + 0.1, 1.0) - 0.1
    r = np.exp(-0.5 * (p / 0.012) ** 2)
    q = -0.15 * np.exp(-0.5 * ((p + 0.025) / 0.01) ** 2)
    s = -0.25 * np.exp(-0.5 * ((p - 0.03) / 0.012) ** 2)
    t = 0.3 * np.exp(-0.5 * ((p - 0.3) / 0.05) ** 2)
    pw = 0.12 * np.exp(-0.5 * ((p + 0.12) / 0.03) ** 2)
    return r + q + s + t + pw


def draw_overlays(
    frames: np.ndarray,
    sector: np.ndarray,
    rng: np.random.Generator,
    phase_at: np.ndarray,
    spacing_mm: float,
    origin_px: tuple[float, float],
    color: bool,
) -> np.ndarray:
    """Burn text, a depth scale and an ECG trace into ``(T, H, W)`` grey frames.

    Args:
        frames: grey frames, modified copy returned as ``(T, H, W, 3)`` RGB.
        sector: ``(H, W)`` bool; nothing is drawn inside it.
        rng: random generator (text, positions).
        phase_at: ``(T,)`` cardiac phase of each frame (for the ECG sweep).
        spacing_mm: pixel size (the depth scale ticks every 10 mm, or 1 mm for rodents).
        origin_px: probe origin.
        color: draw the ECG green and the marker coloured, as scanners do.

    Returns:
        ``(T, H, W, 3)`` uint8.
    """
    t, h, w = frames.shape
    layer = np.zeros((h, w, 3), dtype=np.uint8)
    scale = max(0.3, h / 700.0)
    grey = int(rng.integers(150, 240))
    for corner in range(int(rng.integers(2, 5))):
        text = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 3))))
        x = int(rng.integers(2, max(3, w // 8))) if corner % 2 == 0 else int(w - w // 6 - rng.integers(0, w // 10 + 1))
        y = int(rng.integers(int(14 * scale) + 2, max(int(14 * scale) + 3, h // 5)))
        cv2.putText(layer, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.9, (grey, grey, grey), 1, cv2.LINE_AA)
    # Depth scale: dots along the right edge every 10 mm (1 mm when the depth is small).
    step_mm = 10.0 if h * spacing_mm > 40 else 1.0
    col = int(w - max(6, w // 40))
    depth = origin_px[0]
    while depth < h - 4:
        cv2.circle(layer, (col, int(depth)), max(1, int(2 * scale)), (grey, grey, grey), -1)
        depth += step_mm / spacing_mm
    if color:
        cv2.circle(layer, (int(origin_px[1] + w * 0.08), int(max(8, origin_px[0] + 6))), max(2, int(5 * scale)), (40, 170, 110), -1)
    layer[sector] = 0
    out = np.repeat(frames[..., None], 3, axis=-1)
    mask = layer.any(axis=-1)
    out[:, mask] = layer[mask]
    # ECG: a sweeping trace along the bottom strip, outside the sector.
    rows = np.where(~sector.any(axis=1))[0]
    bottom = rows[rows > h * 0.6]
    if len(bottom) >= 12:
        base_row = int(bottom[len(bottom) // 2])
        amp = max(3.0, 0.35 * min(len(bottom), 60))
        xs = np.arange(int(w * 0.1), int(w * 0.9))
        ecg_color = np.array([60, 220, 90] if color else [200, 200, 200], dtype=np.uint8)
        for i in range(t):
            # The trace shows the last ~2.5 beats up to the current frame.
            phases = phase_at[i] - (xs[-1] - xs) / len(xs) * 2.5
            ys = (base_row - amp * ecg_waveform(phases)).astype(np.int32)
            pts = np.stack([xs, np.clip(ys, 0, h - 1)], axis=1)
            frame = np.ascontiguousarray(out[i])
            cv2.polylines(frame, [pts.reshape(-1, 1, 2)], False, tuple(int(c) for c in ecg_color), 1, cv2.LINE_AA)
            frame[sector] = out[i][sector]
            out[i] = frame
    return out
