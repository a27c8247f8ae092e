"""Reading and classifying DICOM headers without decoding pixels.

Shared by :func:`echoquant.io.read_cine` and :func:`echoquant.io.scan`, so that
discovery and reading reject the same files for the same reasons.
"""

from __future__ import annotations

import re

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from echoquant.errors import (
    CorruptPixelDataError,
    NoPixelDataError,
    NotAnImageError,
    NotDicomError,
    NotUltrasoundError,
    UnsafeHeaderError,
)
from echoquant.io.cine import CineMeta

__all__ = [
    "US_IMAGE_SOP_CLASSES",
    "SECONDARY_CAPTURE_SOP_CLASSES",
    "looks_like_dicom",
    "read_header",
    "check_ultrasound_image",
    "check_sizes",
    "header_meta",
    "coded_view",
]

US_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image Storage (Retired)",
}
SECONDARY_CAPTURE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}
# Object kinds that are never images, by SOP Class UID prefix, with a readable name.
_NON_IMAGE_PREFIXES = {
    "1.2.840.10008.1.3.10": "DICOMDIR (media directory)",
    "1.2.840.10008.5.1.4.1.1.88.": "structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document (PDF/CDA)",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.66": "raw data / registration / segmentation",
    "1.2.840.10008.5.1.4.1.1.481.": "radiotherapy object",
    "1.2.840.10008.5.1.4.1.1.11": "presentation state",
}

# Refuse, from the header alone, what would not fit a sane echo loop in memory.
MAX_ROWS_COLS = 8192
MAX_FRAMES = 20_000
MAX_OUTPUT_BYTES = 4 * 1024**3

_VIEW_WORDS = (
    ("four chamber", "A4C"),
    ("4 chamber", "A4C"),
    ("two chamber", "A2C"),
    ("2 chamber", "A2C"),
    ("three chamber", "A3C"),
    ("3 chamber", "A3C"),
    ("long axis", "PLAX"),
    ("short axis", "SAX"),
    ("subcostal", "SUBCOSTAL"),
)


def looks_like_dicom(path: Path) -> bool:
    """Whether the file starts like DICOM: ``DICM`` at byte 128, or, for files
    without a preamble, a group 0002 or 0008 tag in the first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00")


def _parse_all(ds: Dataset) -> None:
    """Convert every element (recursively through sequences), pixel data excepted."""
    for tag in list(ds.keys()):
        if tag.group == 0x7FE0:
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _parse_all(item)


def read_header(path: Path) -> Dataset:
    """Parse a DICOM file, deferring large values (pixel data stays on disk).

    Raises:
        NotDicomError: the file is not DICOM or its header is broken.
    """
    if not looks_like_dicom(path):
        raise NotDicomError(
            "not a DICOM file (no 'DICM' marker at byte 128 and no DICOM tag at the start); "
            "pass DICOM files or videos (.avi, .mp4)",
            path=path,
        )
    try:
        # force only matters for files without preamble, which looks_like_dicom vetted.
        ds = pydicom.dcmread(path, defer_size="64 KB", force=True)
        # Parse every header element now (pydicom converts lazily), so that a broken
        # header fails here with a clear error instead of later in some tag access.
        _parse_all(ds)
        if getattr(ds, "file_meta", None) is not None:
            _parse_all(ds.file_meta)
    # pydicom raises anything from struct.error to NotImplementedError (unknown VR) or
    # its own BytesLengthException on a damaged header: at this boundary all of them
    # mean "this header cannot be read".
    except Exception as exc:  # noqa: BLE001
        raise NotDicomError(
            f"DICOM header cannot be parsed ({type(exc).__name__}: {str(exc)[:200]}); the file is damaged "
            "or truncated: export it again from the scanner or PACS",
            path=path,
        ) from exc
    return ds


def _sop_class(ds: Dataset) -> str:
    value = ds.get("SOPClassUID", None)
    if value is None and "MediaStorageSOPClassUID" in getattr(ds, "file_meta", {}):
        value = ds.file_meta.MediaStorageSOPClassUID
    return str(value or "")


def _pixel_data_tag_in_file(path: Path) -> bool:
    """Whether the bytes of the (7FE0,0010) tag occur in the file (little endian).

    pydicom drops a Pixel Data element that the end of file cuts off; finding its
    tag tells a truncated file from one that never had pixels.
    """
    tag = b"\xe0\x7f\x10\x00"
    tail = b""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                if tag in tail + chunk:
                    return True
                tail = chunk[-3:]
    except OSError:
        return False
    return False


def check_ultrasound_image(ds: Dataset, path: Path | None = None) -> None:
    """Accept ultrasound images (and Secondary Captures whose Modality is US).

    Raises:
        NotAnImageError: SR, DICOMDIR, presentation state, PDF and other non-images.
        NotUltrasoundError: an image of another modality.
        NoPixelDataError: an image object without Pixel Data.
    """
    sop = _sop_class(ds)
    modality = str(ds.get("Modality", "") or "").upper()
    for prefix, name in _NON_IMAGE_PREFIXES.items():
        if sop.startswith(prefix):
            raise NotAnImageError(
                f"{name} (SOP class {sop}), not an image; nothing to analyse, skip it", path=path
            )
    if sop in US_IMAGE_SOP_CLASSES or (sop in SECONDARY_CAPTURE_SOP_CLASSES and modality == "US"):
        pass
    elif modality != "US":
        raise NotUltrasoundError(
            f"Modality is {modality or 'missing'} (SOP class {sop or 'missing'}), not US; "
            "echoquant analyses echocardiography loops only",
            path=path,
        )
    elif "PixelData" not in ds and "Rows" not in ds:
        raise NotAnImageError(f"SOP class {sop or 'missing'} holds no image; skip it", path=path)
    if "PixelData" not in ds:
        if path is not None and _pixel_data_tag_in_file(path):
            raise CorruptPixelDataError(
                "the Pixel Data element starts but the file ends inside it; the file is "
                "truncated (interrupted copy or export): copy or export it again",
                path=path,
            )
        raise NoPixelDataError(
            "the object declares an ultrasound image but has no Pixel Data element; "
            "the export may have stripped it: export the image again",
            path=path,
        )


def check_sizes(ds: Dataset, path: Path | None = None) -> tuple[int, int, int]:
    """Validate Rows, Columns, NumberOfFrames, SamplesPerPixel and BitsAllocated
    before anything is allocated.

    Returns:
        ``(n_frames, rows, cols)``.

    Raises:
        UnsafeHeaderError: missing or absurd values.
    """
    try:
        rows = int(ds.Rows)
        cols = int(ds.Columns)
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnsafeHeaderError(
            f"image size tags missing or unreadable ({exc}); the header is damaged", path=path
        ) from exc
    problems = []
    if not (1 <= rows <= MAX_ROWS_COLS and 1 <= cols <= MAX_ROWS_COLS):
        problems.append(f"Rows x Columns = {rows} x {cols} (1..{MAX_ROWS_COLS} expected)")
    if not 1 <= n_frames <= MAX_FRAMES:
        problems.append(f"NumberOfFrames = {n_frames} (1..{MAX_FRAMES} expected)")
    if samples not in (1, 3):
        problems.append(f"SamplesPerPixel = {samples} (1 or 3 expected)")
    if bits not in (1, 8, 16, 32):
        problems.append(f"BitsAllocated = {bits} (8 or 16 expected)")
    if not problems and rows * cols * n_frames > MAX_OUTPUT_BYTES:
        problems.append(f"{n_frames} frames of {rows} x {cols} exceed {MAX_OUTPUT_BYTES >> 30} GiB")
    if problems:
        raise UnsafeHeaderError(
            "refused before decoding: " + "; ".join(problems) + ". The header is corrupt or "
            "this is not an echo loop",
            path=path,
        )
    return n_frames, rows, cols


# Compressed echo frames shrink 10-100x; a header claiming more than this ratio over
# the whole file (and a large output) is corrupt, and is refused before allocation.
MAX_COMPRESSION_RATIO = 2000
_SMALL_OUTPUT_BYTES = 256 * 1024**2


def check_pixel_budget(ds: Dataset, path: Path, n_frames: int, rows: int, cols: int) -> None:
    """Compare the pixel data the header declares with the bytes the file holds,
    before any frame array is allocated.

    Raises:
        CorruptPixelDataError: uncompressed pixel data shorter than declared.
        UnsafeHeaderError: compressed data that would have to expand implausibly.
    """
    file_size = path.stat().st_size
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.BitsAllocated)
    meta = getattr(ds, "file_meta", None)
    ts = None if meta is None else meta.get("TransferSyntaxUID", None)
    encapsulated = ts is not None and UID(str(ts)).is_encapsulated
    if not encapsulated:
        declared = rows * cols * n_frames * samples * bits // 8
        if declared > file_size:
            raise CorruptPixelDataError(
                f"the header declares {declared / 1e6:.1f} MB of uncompressed pixel data but the file holds "
                f"{file_size / 1e6:.1f} MB; the file is truncated or Rows/Columns/NumberOfFrames are wrong: "
                "export it again", path=path)
        return
    grey = rows * cols * n_frames
    if grey > _SMALL_OUTPUT_BYTES and grey > MAX_COMPRESSION_RATIO * file_size:
        raise UnsafeHeaderError(
            f"refused before decoding: {n_frames} frames of {rows} x {cols} from {file_size / 1e6:.1f} MB of "
            f"compressed data would be a >{MAX_COMPRESSION_RATIO}x expansion; the header is corrupt", path=path)


# Abbreviations scanners and sonographers write into series descriptions (Vevo LAB
# exports name the acquisition, e.g. "PLAX B-Mode", "SAX mid").
_VIEW_TOKENS = {"plax": "PLAX", "lax": "PLAX", "psax": "SAX", "sax": "SAX", "a4c": "A4C", "4ch": "A4C",
                "a2c": "A2C", "2ch": "A2C", "a3c": "A3C", "3ch": "A3C"}


def coded_view(ds: Dataset) -> str | None:
    """The echo view from ViewCodeSequence (e.g. ``"A4C"``), when it is coded, else
    from a view named in SeriesDescription or ProtocolName (words such as "short
    axis", or abbreviations such as ``PLAX``, ``SAX``, ``A4C``)."""
    seq = ds.get("ViewCodeSequence", None)
    if seq:
        meaning = str(seq[0].get("CodeMeaning", "") or "").lower()
        for words, view in _VIEW_WORDS:
            if words in meaning:
                return view
        return meaning or None
    for keyword in ("SeriesDescription", "ProtocolName"):
        text = str(ds.get(keyword, "") or "").lower()
        for words, view in _VIEW_WORDS:
            if words in text:
                return view
        for token in re.split(r"[^a-z0-9]+", text):
            if token in _VIEW_TOKENS:
                return _VIEW_TOKENS[token]
    return None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword, None)
    text = None if value is None else str(value).strip()
    return text or None


def header_meta(ds: Dataset, path: Path | None = None) -> CineMeta:
    """Identifiers and acquisition facts of a header."""
    file_meta = getattr(ds, "file_meta", None)
    ts = None if file_meta is None else file_meta.get("TransferSyntaxUID", None)
    return CineMeta(
        source_path=None if path is None else str(path),
        patient_id=_text(ds, "PatientID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_sop_class(ds) or None,
        modality=_text(ds, "Modality"),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        view=coded_view(ds),
        transfer_syntax=None if ts is None else str(ts),
        photometric=_text(ds, "PhotometricInterpretation"),
        study_date=_text(ds, "StudyDate"),
        timepoint=_text(ds, "ClinicalTrialTimePointID"),
        species=_species(ds),
    )


def _species(ds: Dataset) -> str | None:
    """mouse, rat or human from PatientSpeciesDescription (veterinary tags), else None."""
    from echoquant.io.acquisition import normalise_species

    return normalise_species(_text(ds, "PatientSpeciesDescription"))
