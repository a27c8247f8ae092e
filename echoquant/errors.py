"""echoquant's error hierarchy.

Every error echoquant raises on purpose derives from :class:`EchoquantError`, so a
batch can catch that one class, record ``error.code`` and the message, and go on
with the next file. Messages say what is wrong *and* what to do about it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "EchoquantError",
    "InputError",
    "NotDicomError",
    "NotUltrasoundError",
    "NotAnImageError",
    "NoPixelDataError",
    "MissingDecoderError",
    "SingleFrameError",
    "CorruptPixelDataError",
    "UnsafeHeaderError",
    "VideoReadError",
    "ModelError",
    "ChecksumError",
]


class EchoquantError(Exception):
    """Base class of every error echoquant raises on purpose.

    Attributes:
        code: a short, stable, machine-readable name (``"not_dicom"``) that batch
            outputs store in their ``error`` column.
        path: the file the error is about, when there is one.
    """

    code = "echoquant_error"

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        # The path is put in front so that a message read in a log names its file;
        # file names never hold patient identifiers that the header does not.
        prefix = f"{self.path}: " if self.path else ""
        super().__init__(prefix + message)
        self.message = message


class InputError(EchoquantError):
    """The input cannot be read as an echo loop (base of the reader errors)."""

    code = "input_error"


class NotDicomError(InputError):
    """The file is not DICOM, or its header cannot be parsed."""

    code = "not_dicom"


class NotUltrasoundError(InputError):
    """The file is DICOM but not an ultrasound image (Modality is not US)."""

    code = "not_ultrasound"


class NotAnImageError(InputError):
    """The DICOM object is not an image (structured report, DICOMDIR, PDF, ...)."""

    code = "not_an_image"


class NoPixelDataError(InputError):
    """The DICOM object declares an image but carries no Pixel Data."""

    code = "no_pixel_data"


class MissingDecoderError(InputError):
    """The transfer syntax needs a pixel-data decoder that is not installed."""

    code = "missing_decoder"


class SingleFrameError(InputError):
    """A loop (several frames) is needed but the file holds a single frame."""

    code = "single_frame"


class CorruptPixelDataError(InputError):
    """Pixel data are truncated, inconsistent with the header, or fail to decode."""

    code = "corrupt_pixel_data"


class UnsafeHeaderError(InputError):
    """Header values are absurd (e.g. 60000 x 60000 x 10000 frames) and are refused
    before any memory is allocated for them."""

    code = "unsafe_header"


class VideoReadError(InputError):
    """A video file (AVI/MP4) cannot be opened or decoded."""

    code = "video_read_error"


class ModelError(EchoquantError):
    """A model file or its metadata is missing or unusable."""

    code = "model_error"


class ChecksumError(ModelError):
    """A model file does not match the checksum recorded in its metadata."""

    code = "checksum_mismatch"
