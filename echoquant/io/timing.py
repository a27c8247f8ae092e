"""Frame timing and heart rate from a DICOM header, never guessed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from echoquant.flags import make_flag

__all__ = ["Timing", "read_timing", "read_heart_rate"]

# Frames closer than 0.1 ms or further apart than 10 s are not an echo loop.
_MIN_FRAME_MS = 0.1
_MAX_FRAME_MS = 10_000.0


@dataclass(frozen=True)
class Timing:
    """Frame times and rate of a loop, with where they came from."""

    frame_times_ms: np.ndarray | None
    fps: float | None
    source: str | None
    flags: tuple[str, ...] = ()


def _positive_float(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) and x > 0 else None


def _from_vector(ds: Dataset, n_frames: int) -> tuple[Timing | None, str | None]:
    vec = ds.get("FrameTimeVector", None)
    if vec is None:
        return None, None
    try:
        inc = np.asarray([float(v) for v in (vec if isinstance(vec, (list, tuple)) else list(vec))])
    except (TypeError, ValueError):
        return None, "FrameTimeVector is not numeric"
    # PS3.3 C.7.6.5: one value per frame, the first being 0 (time from the previous frame).
    if len(inc) != n_frames:
        return None, f"FrameTimeVector has {len(inc)} values for {n_frames} frames"
    steps = inc[1:]
    if len(steps) == 0:
        return None, None
    if not np.all(np.isfinite(steps)) or np.any(steps < _MIN_FRAME_MS) or np.any(steps > _MAX_FRAME_MS):
        return None, "FrameTimeVector holds non-physical increments"
    times = np.concatenate([[0.0], np.cumsum(steps)])
    fps = 1000.0 * (n_frames - 1) / float(times[-1])
    return Timing(times, fps, "FrameTimeVector"), None


def read_timing(ds: Dataset, n_frames: int) -> Timing:
    """Frame times in ms and fps, from the first usable of FrameTimeVector,
    FrameTime, CineRate and RecommendedDisplayFrameRate.

    Args:
        ds: the header.
        n_frames: number of frames in the file.

    Returns:
        A :class:`Timing`; without usable tags its fields are None and a
        ``timing_missing`` flag says so (for single frames no flag is raised).
    """
    flags: list[str] = []
    timing, problem = _from_vector(ds, n_frames)
    if problem:
        flags.append(make_flag("timing_inconsistent", problem + "; next timing tag used"))
    if timing is not None:
        return Timing(timing.frame_times_ms, timing.fps, timing.source, tuple(flags))

    frame_ms = _positive_float(ds.get("FrameTime", None))
    if frame_ms is not None and _MIN_FRAME_MS <= frame_ms <= _MAX_FRAME_MS:
        times = np.arange(n_frames, dtype=np.float64) * frame_ms
        return Timing(times, 1000.0 / frame_ms, "FrameTime", tuple(flags))
    if frame_ms is not None:
        flags.append(make_flag("timing_inconsistent", f"FrameTime {frame_ms} ms is not physical"))

    for tag in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive_float(ds.get(tag, None))
        if rate is not None and 1000.0 / _MAX_FRAME_MS <= rate <= 1000.0 / _MIN_FRAME_MS:
            times = np.arange(n_frames, dtype=np.float64) * (1000.0 / rate)
            if tag == "RecommendedDisplayFrameRate":
                flags.append(
                    make_flag(
                        "timing_from_display_rate",
                        f"only RecommendedDisplayFrameRate ({rate:g}/s) is recorded; it is a "
                        "playback rate and may differ from the acquisition rate",
                    )
                )
            return Timing(times, rate, tag, tuple(flags))

    if n_frames > 1:
        flags.append(
            make_flag(
                "timing_missing",
                "no FrameTimeVector, FrameTime, CineRate or RecommendedDisplayFrameRate; "
                "fps is unknown and time-based values (heart rate, time to peak) are not reported",
            )
        )
    return Timing(None, None, None, tuple(flags))


def read_heart_rate(ds: Dataset) -> tuple[float | None, tuple[str, ...]]:
    """HeartRate in bpm; 0 and negative values mean "not recorded".

    Returns:
        ``(bpm or None, flags)``.
    """
    raw = ds.get("HeartRate", None)
    bpm = _positive_float(raw)
    if bpm is None:
        reason = "HeartRate tag absent" if raw is None else f"HeartRate is {raw!s} (not recorded)"
        return None, (make_flag("heart_rate_missing", reason),)
    if bpm > 1500:
        return None, (make_flag("heart_rate_missing", f"HeartRate {bpm:g} bpm is not physical"),)
    return bpm, ()
