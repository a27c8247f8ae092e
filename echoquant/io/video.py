"""Reading video loops (AVI/MP4, as EchoNet-Dynamic stores them) with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echoquant.errors import SingleFrameError, VideoReadError
from echoquant.flags import make_flag
from echoquant.io.cine import CineMeta, EchoCine
from echoquant.io.fan import estimate_fan_mask

__all__ = ["VIDEO_SUFFIXES", "read_video"]

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm"}


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    import av  # imported here: decoding DICOM never needs FFmpeg

    frames, pts = [], []
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoReadError("the file holds no video stream", path=path)
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        time_base = float(stream.time_base) if stream.time_base else None
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="gray"))
            pts.append(None if frame.pts is None or time_base is None else frame.pts * time_base)
    if not frames:
        raise VideoReadError("the video stream holds no decodable frame", path=path)
    times = None
    if all(p is not None for p in pts):
        t = np.asarray(pts, dtype=np.float64)
        times = (t - t[0]) * 1000.0
        if len(t) > 1 and np.any(np.diff(times) <= 0):
            times = None
    return np.stack(frames).astype(np.uint8), times, fps


def read_video(path: str | Path, *, require_loop: bool = False) -> EchoCine:
    """Read an AVI/MP4 loop.

    Videos carry no calibration: ``spacing_mm`` is None and flagged. The fps is the
    container's; frame times come from the presentation timestamps when they are
    increasing, else from the fps.

    Raises:
        VideoReadError: the file cannot be opened or decoded.
    """
    path = Path(path)
    try:
        frames, times, fps = _decode(path)
    except VideoReadError:
        raise
    # PyAV raises its own FFmpeg error family, plus OSError/ValueError on damaged files.
    except Exception as exc:  # noqa: BLE001
        raise VideoReadError(
            f"video cannot be decoded ({type(exc).__name__}: {exc}); re-encode it (e.g. with "
            "ffmpeg to MJPEG AVI or H.264 MP4)",
            path=path,
        ) from exc
    if require_loop and len(frames) < 2:
        raise SingleFrameError("the video holds a single frame but a loop is needed", path=path)
    flags = [make_flag("calibration_missing", "videos carry no pixel spacing; volumes are not reported in mL")]
    source = "container"
    if fps is None or fps <= 0:
        fps, source = None, None
        flags.append(make_flag("timing_missing", "the container states no frame rate"))
    if times is None and fps is not None:
        times = np.arange(len(frames)) * 1000.0 / fps
    if fps is None:
        times = None
    fan_mask, estimated = estimate_fan_mask(frames)
    if not estimated:
        flags.append(make_flag("fan_not_found", "no moving scan sector found; the whole frame is used"))
    flags.append(make_flag("heart_rate_missing", "videos carry no heart rate"))
    return EchoCine(
        frames=frames,
        fps=fps,
        frame_times_ms=times,
        spacing_mm=None,
        heart_rate_bpm=None,
        fan_mask=fan_mask,
        flags=flags,
        meta=CineMeta(source_path=str(path)),
        timing_source=source,
    )
