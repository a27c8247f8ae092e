"""The data class every reader returns: one echo loop with its time base and scale."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from echoquant.flags import has_flag

__all__ = ["CineMeta", "EcgTrace", "EchoCine", "SectorBox"]


@dataclass(frozen=True)
class SectorBox:
    """Bounding box of the imaging region in pixels; ``*_stop`` is exclusive."""

    row_start: int
    col_start: int
    row_stop: int
    col_stop: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices that crop a frame to the box."""
        return slice(self.row_start, self.row_stop), slice(self.col_start, self.col_stop)


@dataclass
class EcgTrace:
    """An ECG signal found in the file.

    Attributes:
        time_s: sample times in seconds from the start of the trace.
        amplitude: samples (mV for a waveform sequence, pixels for a trace read
            off the image, larger = more positive).
        source: ``"waveform"`` (WaveformSequence) or ``"image_region"`` (an ECG
            ultrasound region drawn into the frames).
        r_wave_times_s: detected R-wave times on the same axis, possibly empty.
        frame_aligned: whether ``time_s`` shares its origin with the frame times.
    """

    time_s: np.ndarray
    amplitude: np.ndarray
    source: str
    r_wave_times_s: np.ndarray
    frame_aligned: bool = False


@dataclass(frozen=True)
class CineMeta:
    """Identifiers and acquisition facts (no patient name or birth date, by design)."""

    source_path: str | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    sop_class_uid: str | None = None
    modality: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    view: str | None = None
    transfer_syntax: str | None = None
    photometric: str | None = None
    study_date: str | None = None
    timepoint: str | None = None  # ClinicalTrialTimePointID, for longitudinal studies
    # Species (mouse, rat, human) and where it and the view came from when not the
    # header's own tags ("table": an acquisition side table, echoquant.io.acquisition).
    species: str | None = None
    species_source: str | None = None
    view_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EchoCine:
    """One echo loop, ready for segmentation and measurement.

    Attributes:
        frames: grayscale ``(T, H, W)`` uint8 frames.
        fps: frames per second, or None when the file does not say.
        frame_times_ms: ``(T,)`` acquisition time of each frame from the first, in
            ms, or None when timing is missing.
        timing_source: tag the timing came from (``"FrameTimeVector"``,
            ``"FrameTime"``, ``"CineRate"``, ``"RecommendedDisplayFrameRate"``,
            ``"container"`` for videos) or None.
        spacing_mm: ``(row, col)`` pixel size in mm, or None when calibration is
            missing or untrusted (then a flag says which).
        calibration_source: ``"UltrasoundRegion"``, ``"PixelSpacing"`` or None.
        heart_rate_bpm: heart rate from the header, None when not recorded.
        fan_mask: ``(H, W)`` bool, True inside the scan sector.
        sector_box: bounding box of the imaging region, or None.
        ecg: ECG trace when the file carries one.
        flags: ``"code: reason"`` strings; see :mod:`echoquant.flags`.
        meta: identifiers and acquisition facts.
    """

    frames: np.ndarray
    fps: float | None
    frame_times_ms: np.ndarray | None
    spacing_mm: tuple[float, float] | None
    heart_rate_bpm: float | None
    fan_mask: np.ndarray
    flags: list[str] = field(default_factory=list)
    meta: CineMeta = field(default_factory=CineMeta)
    timing_source: str | None = None
    calibration_source: str | None = None
    sector_box: SectorBox | None = None
    ecg: EcgTrace | None = None
    color_doppler_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.frames.ndim != 3:
            raise ValueError(f"frames must be (T, H, W), got shape {self.frames.shape}")
        if self.frames.dtype != np.uint8:
            # Segmentation input, the speckle tracker and the overlays all expect grey
            # levels 0..255; a float loop scaled 0..1 would be silently mis-measured.
            raise ValueError(f"frames must be uint8 grey levels 0..255, got dtype {self.frames.dtype}; "
                             "scale and convert them first, e.g. np.clip(x, 0, 255).astype(np.uint8)")
        if self.fan_mask.shape != self.frames.shape[1:]:
            raise ValueError(
                f"fan_mask shape {self.fan_mask.shape} does not match frame size "
                f"{self.frames.shape[1:]}"
            )
        if self.frame_times_ms is not None and len(self.frame_times_ms) != len(self.frames):
            raise ValueError(
                f"frame_times_ms has {len(self.frame_times_ms)} entries for "
                f"{len(self.frames)} frames"
            )

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of a frame."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def duration_s(self) -> float | None:
        """Time from the first to the last frame, or None without timing."""
        if self.frame_times_ms is None:
            return None
        return float(self.frame_times_ms[-1] - self.frame_times_ms[0]) / 1000.0

    @property
    def is_calibrated(self) -> bool:
        return self.spacing_mm is not None

    @property
    def has_color_doppler(self) -> bool:
        return has_flag(self.flags, "color_doppler")

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description without pixel data."""
        return {
            "n_frames": self.n_frames,
            "height": self.shape[0],
            "width": self.shape[1],
            "fps": self.fps,
            "timing_source": self.timing_source,
            "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
            "calibration_source": self.calibration_source,
            "heart_rate_bpm": self.heart_rate_bpm,
            "fan_fraction": float(self.fan_mask.mean()),
            "sector_box": None if self.sector_box is None else asdict(self.sector_box),
            "ecg": None
            if self.ecg is None
            else {"source": self.ecg.source, "n_r_waves": int(len(self.ecg.r_wave_times_s))},
            "color_doppler_fraction": self.color_doppler_fraction,
            "flags": list(self.flags),
            "meta": self.meta.to_dict(),
        }
