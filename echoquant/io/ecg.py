"""ECG traces: from a DICOM WaveformSequence or from an ECG region drawn in the frames."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from scipy import signal

from echoquant.io.cine import EcgTrace
from echoquant.io.regions import UNIT_SECONDS, UltrasoundRegion

__all__ = ["detect_r_waves", "ecg_from_waveform", "ecg_from_region"]

# The fastest heart we analyse (mouse, 750 bpm) beats every 80 ms.
_MIN_RR_S = 0.08


def detect_r_waves(time_s: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """R-wave times of an ECG trace.

    The trace is detrended by its median, its polarity chosen so that the larger
    deflection is positive, and peaks above half that deflection and at least
    80 ms apart are taken as R waves, less tall T waves (wide and lower), each placed
    between samples.

    Args:
        time_s: sample times (s), increasing.
        amplitude: samples.

    Returns:
        R-wave times in seconds (possibly empty).
    """
    if len(time_s) < 8 or not np.all(np.isfinite(amplitude)):
        return np.empty(0)
    x = amplitude - np.median(amplitude)
    if abs(x.min()) > abs(x.max()):
        x = -x
    span = float(x.max())
    if span <= 0:
        return np.empty(0)
    dt = float(np.median(np.diff(time_s)))
    if dt <= 0:
        return np.empty(0)
    distance = max(1, int(round(_MIN_RR_S / dt)))
    peaks, _ = signal.find_peaks(x, height=0.5 * span, distance=distance, prominence=0.4 * span)
    peaks = _drop_t_waves(x, peaks)
    return np.interp(peaks + _subsample_offsets(x, peaks), np.arange(len(time_s)), time_s)


def _drop_t_waves(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The peaks without T waves that reach half the R wave's height: those both clearly
    wider (over 1.8x the width of the narrow peaks) and lower (under 80 % of the tall
    ones) than the rest. A QRS lasts tens of ms, a T wave one to two hundred."""
    if len(peaks) < 3:
        return peaks
    widths = signal.peak_widths(x, peaks, rel_height=0.5)[0]
    heights = x[peaks]
    narrow = float(np.median(np.sort(widths)[: max(1, len(widths) // 2)]))
    tall = float(np.median(np.sort(heights)[len(heights) // 2:]))
    t_wave = (widths > 1.8 * narrow) & (heights < 0.8 * tall)
    return peaks[~t_wave] if (~t_wave).sum() >= 2 else peaks


def _subsample_offsets(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Offsets (-0.5..0.5 samples) of each peak's vertex, from a parabola through the
    peak and its two neighbours: a drawn ECG is sampled once per screen column (5-9 ms
    on a human M-mode sweep), coarser than the ED timing it sets."""
    out = np.zeros(len(peaks))
    for k, i in enumerate(peaks):
        if 0 < i < len(x) - 1:
            a, b, c = float(x[i - 1]), float(x[i]), float(x[i + 1])
            curv = a - 2.0 * b + c
            if curv < 0:
                out[k] = float(np.clip(0.5 * (a - c) / curv, -0.5, 0.5))
    return out


def ecg_from_waveform(ds: Dataset) -> EcgTrace | None:
    """First ECG-like channel of WaveformSequence, if any."""
    seq = ds.get("WaveformSequence", None)
    if not seq:
        return None
    try:
        data = ds.waveform_array(0)
        freq = float(seq[0].SamplingFrequency)
    except (AttributeError, ValueError, TypeError, KeyError, IndexError):
        return None
    if data.ndim != 2 or data.shape[0] < 8 or freq <= 0:
        return None
    amplitude = np.asarray(data[:, 0], dtype=np.float64)
    time_s = np.arange(len(amplitude)) / freq
    return EcgTrace(time_s, amplitude, "waveform", detect_r_waves(time_s, amplitude))


def ecg_from_region(
    region: UltrasoundRegion, luma: np.ndarray, chroma: np.ndarray
) -> EcgTrace | None:
    """Read the ECG line drawn in an ECG ultrasound region of one frame.

    The trace is the coloured (or, on grey screens, brightest) line of each column.
    Its time axis is the region's PhysicalDeltaX when that is in seconds; screens
    sweep, so the trace is not aligned with the frame times.

    Args:
        region: an ECG region (RegionDataType 0x0A) inside the frame.
        luma: ``(H, W)`` grey frame.
        chroma: ``(H, W)`` colour magnitude of the same frame.

    Returns:
        The trace, or None when the region has no drawn line or no time axis.
    """
    if region.units_x != UNIT_SECONDS or not region.delta_x or region.delta_x <= 0:
        return None
    rows, cols = region.clipped_box(*luma.shape).slices
    lum, col = luma[rows, cols].astype(np.float32), chroma[rows, cols].astype(np.float32)
    if lum.size == 0:
        return None
    strength = col if col.max() >= 40 else lum
    line = strength >= 0.5 * float(strength.max())
    present = line.any(axis=0)
    if present.sum() < 16:
        return None
    row_index = np.arange(line.shape[0], dtype=np.float64)[:, None]
    mean_row = (line * row_index).sum(axis=0) / np.maximum(line.sum(axis=0), 1)
    x = np.arange(line.shape[1], dtype=np.float64)
    amplitude = -np.interp(x, x[present], mean_row[present])  # screen rows grow downwards
    time_s = x * float(region.delta_x)
    return EcgTrace(time_s, amplitude, "image_region", detect_r_waves(time_s, amplitude))
