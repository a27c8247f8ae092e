"""Pictures for checking a result by eye: the traced LV contour on every frame of
the loop (GIF) and the volume and strain curves with ED/ES marked (PNG)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from echoquant._files import atomic_write_bytes
from echoquant.io.cine import EchoCine

if TYPE_CHECKING:
    from echoquant.results import EchoResult, MModeEchoResult
    from echoquant.io.mmode import MModeStrip

__all__ = ["LABEL_COLORS", "WALL_MOTION_COLORS", "draw_labels", "draw_contour", "draw_segments",
           "write_contour_gif", "write_curves_png", "write_mmode_png"]

# RGB per label: LV cavity red, myocardium blue, LA green.
LABEL_COLORS = {1: (255, 60, 60), 2: (60, 200, 255), 3: (80, 255, 80)}
_ED, _ES = (255, 60, 60), (80, 160, 255)
# RGB per wall-motion class (echoquant.quant.wallmotion).
WALL_MOTION_COLORS = {"normal": (60, 220, 90), "hypokinetic": (255, 220, 0), "akinetic": (255, 120, 0),
                      "dyskinetic": (230, 40, 200), "not_assessable": (150, 150, 150)}


def draw_labels(frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Outline every labelled structure of one grey frame; returns RGB uint8."""
    rgb = np.repeat(frame[..., None], 3, axis=-1).copy()
    for label, color in LABEL_COLORS.items():
        mask = (labels == label).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, color, 1)
    return rgb


def draw_contour(frame: np.ndarray, points: np.ndarray | None, color: tuple[int, int, int] = (255, 220, 0),
                 scale: int = 1) -> np.ndarray:
    """Draw an open LV contour (``(N, 2)`` x, y pixels) with its apex and hinges on
    a grey frame; returns RGB uint8. ``scale`` enlarges small loops first."""
    rgb = np.repeat(frame[..., None], 3, axis=-1)
    if scale > 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    if points is None or len(points) < 2:
        return np.ascontiguousarray(rgb)
    rgb = np.ascontiguousarray(rgb)
    pts = np.round((points + 0.5) * scale - 0.5).astype(np.int32)
    cv2.polylines(rgb, [pts], False, color, 1, lineType=cv2.LINE_AA)
    for p in (pts[0], pts[-1], pts[len(pts) // 2]):
        cv2.circle(rgb, (int(p[0]), int(p[1])), max(1, scale), color, -1)
    return rgb


def draw_segments(frame: np.ndarray, points: np.ndarray | None, classes: Sequence[str], tag: str = "",
                  scale: int = 1) -> np.ndarray:
    """Draw an LV contour with each of its six segments coloured by its wall-motion
    class (:data:`WALL_MOTION_COLORS`) and ``tag`` (e.g. ``"ED"``) in the corner; RGB uint8."""
    from echoquant.quant.strain import SEGMENT_SLICES

    rgb = np.ascontiguousarray(draw_contour(frame, None, scale=scale))
    if points is not None and len(points) == SEGMENT_SLICES[-1].stop:
        pts = np.round((points + 0.5) * scale - 0.5).astype(np.int32)
        for sl, cls in zip(SEGMENT_SLICES, classes):
            color = WALL_MOTION_COLORS.get(cls, WALL_MOTION_COLORS["not_assessable"])
            cv2.polylines(rgb, [pts[sl]], False, color, max(1, scale), lineType=cv2.LINE_AA)
    if tag:
        cv2.putText(rgb, tag, (3, 12 * max(1, scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * max(1, scale), (255, 255, 255),
                    1, cv2.LINE_AA)
    return rgb


def _sector_crop(cine: EchoCine) -> tuple[slice, slice]:
    rows, cols = np.nonzero(cine.fan_mask)
    if len(rows) == 0:
        return slice(None), slice(None)
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


def write_contour_gif(path: str | Path, cine: EchoCine, contours: Sequence[np.ndarray | None],
                      ed_frames: Sequence[int] = (), es_frames: Sequence[int] = (), max_width: int = 320,
                      segment_classes: Sequence[str] | None = None) -> Path:
    """The loop cropped to its sector with the traced contour on every frame; ED
    frames drawn red, ES frames blue, others yellow. With ``segment_classes`` (the six
    wall-motion classes in contour order) each segment is coloured by its class
    (:data:`WALL_MOTION_COLORS`) and ED/ES frames are tagged in the corner instead."""
    import imageio.v3 as iio

    rs, cs = _sector_crop(cine)
    width = cine.frames[0][rs, cs].shape[1]
    scale = max(1, int(max_width // max(width, 1)) if width < max_width // 2 else 1)
    ed, es = set(ed_frames), set(es_frames)
    out = []
    for t, frame in enumerate(cine.frames):
        pts = None if contours[t] is None else contours[t] - np.array([cs.start or 0, rs.start or 0])
        if segment_classes:
            img = draw_segments(frame[rs, cs], pts, segment_classes, "ED" if t in ed else "ES" if t in es else "",
                                scale)
        else:
            color = _ED if t in ed else _ES if t in es else (255, 220, 0)
            img = draw_contour(frame[rs, cs], pts, color, scale)
        if img.shape[1] > max_width:
            f = max_width / img.shape[1]
            img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        out.append(img)
    buf = io.BytesIO()
    duration = 1000.0 / cine.fps if cine.fps else 40.0  # only playback speed; never used for a measurement
    iio.imwrite(buf, np.stack(out), extension=".gif", duration=duration, loop=0)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _save_png(fig, path: str | Path) -> Path:  # noqa: ANN001 - a matplotlib Figure
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_curves_png(path: str | Path, result: EchoResult, title: str = "") -> Path:
    """Volume (or area-based volume in px³) and tracked strain curves, ED/ES marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = result.quant.curves
    # A short axis has a cavity-area curve instead of a volume curve.
    vkey = next(k for k in ("volume_ml", "volume_px3", "area_mm2", "area_px2") if k in curves)
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    axes[0].plot(np.asarray(curves[vkey], dtype=float), "k-", lw=1)
    axes[0].set_ylabel(vkey.replace("_", " ").replace("ml", "(mL)").replace("px3", "(px³, uncalibrated)")
                       .replace("mm2", "(mm²)").replace("px2", "(px², uncalibrated)"))
    for b in result.quant.beats:
        for ax in axes:
            ax.axvline(b.ed_frame, color="tab:red", ls="--", lw=0.8)
            ax.axvline(b.es_frame, color="tab:blue", ls=":", lw=0.8)
    for frames, strain in zip(curves.get("strain_frames", []), curves.get("strain_pct", [])):
        axes[1].plot(frames, strain, "-", color="tab:green", lw=1)
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[1].set_ylabel("GLS (%)")
    axes[1].set_xlabel("frame (red dashed ED, blue dotted ES)")
    lvef = "withheld" if result.lvef_pct is None else f"{result.lvef_pct:.1f}%"
    gls = "withheld" if result.gls_pct is None else f"{result.gls_pct:.1f}%"
    summary = result.quant.summary
    extent = summary.get("akinetic_extent_pct")
    wm = "" if extent is None else f", WMSI {summary['wmsi']:.2f}, akinetic extent {extent:.0f}%"
    head = f"LVEF {lvef}, GLS {gls}"
    if vkey.startswith("area"):
        fac = summary.get("fac_pct")
        head = f"short axis: FAC {'withheld' if fac is None else f'{fac:.1f}%'}"
    axes[0].set_title(f"{title}\n{head}, beats {summary.get('n_beats')}{wm}", fontsize=9)
    return _save_png(fig, path)


_WALL_COLORS = ("tab:orange", "tab:red", "tab:cyan", "tab:blue")


def write_mmode_png(path: str | Path, strip: MModeStrip, result: MModeEchoResult, title: str = "") -> Path:
    """The M-mode strip with its traced walls (septum top and endocardium, posterior
    endocardium and epicardium) and each beat's ED (solid) and ES (dotted) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = strip.pixels
    h, w = img.shape
    sec, mm = strip.seconds_per_px, strip.mm_per_px
    extent = (0, w * (sec or 1.0), h * (mm or 1.0), 0)
    fig, ax = plt.subplots(figsize=(min(12, 3 + w / 80), 4.2))
    ax.imshow(img, cmap="gray", extent=extent, aspect="auto", vmin=0, vmax=255)
    bounds = result.quant.boundaries_px
    if bounds is not None:
        t = (np.arange(w) + 0.5) * (sec or 1.0)
        for k, color in enumerate(_WALL_COLORS):
            ax.plot(t, (bounds[k] + 0.5) * (mm or 1.0), color=color, lw=0.8)
    for b in result.quant.beats:
        ax.axvline(b.ed_time, color="tab:red", lw=0.8)
        ax.axvline(b.es_time, color="tab:blue", lw=0.8, ls=":")
    s = result.quant.summary
    fs = "withheld" if s.get("fs_pct") is None else f"{s['fs_pct']:.1f}%"
    ef = "" if s.get("lvef_teichholz_pct") is None else f", Teichholz LVEF {s['lvef_teichholz_pct']:.1f}%"
    ax.set_title(f"{title}\nFS {fs}{ef}, beats {s.get('n_beats')}", fontsize=9)
    ax.set_xlabel("time (s)" if sec else "column")
    ax.set_ylabel("depth (mm)" if mm else "row")
    return _save_png(fig, path)
