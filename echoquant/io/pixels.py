"""Decoding DICOM pixel data frame by frame into grayscale, with colour measured.

Frames are decoded one at a time into a preallocated ``(T, H, W)`` uint8 array,
so a colour loop never exists in memory as a full ``(T, H, W, 3)`` copy. Colour
handling uses pydicom's own converters: YBR data keep their luma (Y) channel, which
is what ``convert_color_space`` gives for grey; RGB goes through
``convert_color_space(..., "RGB", "YBR_FULL")``; PALETTE COLOR through
``apply_color_lut``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, convert_color_space, get_decoder, iter_pixels
from pydicom.uid import UID

from echoquant.errors import CorruptPixelDataError, MissingDecoderError, UnsafeHeaderError

__all__ = ["DecodedPixels", "decode_frames", "check_decoder"]

# Which extra brings a decoder for which transfer syntax family.
_DECODER_HINTS = {
    "1.2.840.10008.1.2.4.50": "pillow or pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.51": "pillow or pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.80": "pyjpegls or pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.81": "pyjpegls or pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",
}


@dataclass
class DecodedPixels:
    """Grey frames plus what colour they carried.

    Attributes:
        frames: ``(T, H, W)`` uint8.
        chroma_max: ``(H, W)`` uint8, the largest colour magnitude each pixel had
            over the loop (0 for grey data).
        last_chroma: ``(H, W)`` uint8 colour magnitude of the last frame.
    """

    frames: np.ndarray
    chroma_max: np.ndarray
    last_chroma: np.ndarray


def check_decoder(ds: Dataset, path: Path | None = None) -> UID:
    """Make sure pydicom can decode this transfer syntax here.

    Raises:
        MissingDecoderError: naming the package and the echoquant extra to install.
    """
    file_meta = getattr(ds, "file_meta", None)
    ts = UID(str(file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))) if file_meta else UID(
        "1.2.840.10008.1.2"
    )
    if not ts.is_transfer_syntax:
        raise UnsafeHeaderError(
            f"TransferSyntaxUID {str(ts)[:64]!r} is not a transfer syntax; the header is damaged: export the "
            "file again", path=path)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError as exc:
        raise MissingDecoderError(
            f"transfer syntax {ts} ({ts.name}) has no pixel-data decoder in pydicom; convert the "
            "file to an uncompressed or JPEG transfer syntax (e.g. with gdcmconv or dcmdjpeg)",
            path=path,
        ) from exc
    if not decoder.is_available:
        hint = _DECODER_HINTS.get(str(ts), "a pydicom decoder plugin")
        missing = "; ".join(decoder.missing_dependencies) or "no plugin"
        raise MissingDecoderError(
            f"transfer syntax {ts.name} needs a decoder that is not installed ({missing}). "
            f"Install {hint}, e.g. `pip install 'echoquant[jpeg]'`",
            path=path,
        )
    return ts


def _to_uint8(values: np.ndarray, bits_stored: int) -> np.ndarray:
    """Scale integer pixel values of ``bits_stored`` bits to 0..255."""
    if values.dtype == np.uint8:
        return values
    shift = max(0, bits_stored - 8)
    scaled = np.right_shift(np.clip(values, 0, None).astype(np.int64), shift)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _chroma_of_ybr(ybr: np.ndarray) -> np.ndarray:
    cb = np.abs(ybr[..., 1].astype(np.int16) - 128)
    cr = np.abs(ybr[..., 2].astype(np.int16) - 128)
    return np.clip(cb + cr, 0, 255).astype(np.uint8)


class _FrameConverter:
    """Turns one decoded (raw) frame into (grey, chroma) for one photometric."""

    def __init__(self, ds: Dataset) -> None:
        self.photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
        self.bits_stored = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
        self.ds = ds

    def __call__(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        pi = self.photometric
        if raw.ndim == 2:
            if pi == "PALETTE COLOR":
                rgb = apply_color_lut(raw, self.ds)
                return self._from_rgb(_to_uint8(rgb, 16 if rgb.dtype != np.uint8 else 8))
            grey = _to_uint8(raw, self.bits_stored)
            return (255 - grey if pi == "MONOCHROME1" else grey), None
        if raw.ndim != 3 or raw.shape[-1] != 3:
            raise ValueError(f"unexpected decoded frame shape {raw.shape}")
        raw = _to_uint8(raw, self.bits_stored)
        # With raw=True pydicom returns YBR_FULL(_422) data as YBR_FULL (upsampled);
        # JPEG 2000 YBR_ICT/RCT come back as RGB because the codec inverts the transform.
        if pi in ("YBR_FULL", "YBR_FULL_422"):
            return raw[..., 0].copy(), _chroma_of_ybr(raw)
        if pi in ("RGB", "YBR_ICT", "YBR_RCT"):
            return self._from_rgb(raw)
        if pi == "YBR_PARTIAL_422" or pi == "YBR_PARTIAL_420":
            rgb = convert_color_space(raw, pi.replace("_422", "").replace("_420", ""), "RGB")
            return self._from_rgb(rgb)
        raise ValueError(f"unsupported PhotometricInterpretation {pi!r}")

    @staticmethod
    def _from_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
        return ybr[..., 0].copy(), _chroma_of_ybr(ybr)


def decode_frames(path: Path, ds: Dataset, n_frames: int, rows: int, cols: int) -> DecodedPixels:
    """Decode every frame of a file once, to grey.

    Args:
        path: the file (pixel data are read from it frame by frame).
        ds: its header, as read by :func:`echoquant.io.header.read_header`.
        n_frames: frames declared in the header.
        rows: declared height.
        cols: declared width.

    Raises:
        CorruptPixelDataError: truncated, inconsistent or undecodable pixel data.
    """
    frames = np.zeros((n_frames, rows, cols), dtype=np.uint8)
    chroma_max = np.zeros((rows, cols), dtype=np.uint8)
    last_chroma = chroma_max
    convert = _FrameConverter(ds)
    count = 0
    try:
        for raw in iter_pixels(path, raw=True):
            if count >= n_frames:
                break
            if raw.shape[:2] != (rows, cols):
                raise ValueError(f"frame {count} decoded to {raw.shape[:2]}, header says {(rows, cols)}")
            grey, chroma = convert(raw)
            frames[count] = grey
            if chroma is not None:
                np.maximum(chroma_max, chroma, out=chroma_max)
                last_chroma = chroma
            count += 1
    # Decoder plugins raise anything from ValueError to RuntimeError or struct.error
    # on damaged data; at this boundary every such failure means "corrupt pixels".
    except Exception as exc:  # noqa: BLE001
        raise CorruptPixelDataError(
            f"pixel data cannot be decoded at frame {count} of {n_frames} "
            f"({type(exc).__name__}: {exc}); the file is truncated or damaged: export it again",
            path=path,
        ) from exc
    if count < n_frames:
        raise CorruptPixelDataError(
            f"only {count} of {n_frames} frames could be decoded; the file is truncated", path=path
        )
    return DecodedPixels(frames, chroma_max, last_chroma)
