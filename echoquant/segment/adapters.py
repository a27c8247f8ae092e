"""Format adapters: public echo datasets into echoquant's training layout.

The layout (read by :class:`echoquant.segment.data.FolderDataModule`) is one loop
per case as ``NAME.dcm`` or ``NAME.avi`` plus ``NAME_labels.npz`` holding
``labels (T, H, W)`` uint8 (0 background, 1 LV cavity, 2 LV myocardium, 3 LA; an
all-zero frame is unlabelled) and ``label_set`` (the classes that were annotated).

- CAMUS: ``patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].{mhd,nii.gz,nii}`` and the
  ``_half_sequence[_gt]`` files; labels already follow the same convention. When a
  ``patients.csv`` (columns ``patient``, ``split``, ``image_quality``...) sits in the
  source folder or beside it, cases are written into one subfolder per split and
  ``cases.csv`` lists every case with its view, split, quality and calibration.
- EchoNet-Dynamic: ``Videos/*.avi``, ``FileList.csv`` (with its ``Split`` column) and
  ``VolumeTracings.csv``, whose traced chords are filled into LV cavity masks.
  EchoNet annotates the LV cavity only (``label_set = [1]``).

Medical image files (NIfTI, MetaImage) are read with SimpleITK.
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from echoquant.io.writer import DicomIdentity, RegionSpec, write_us_dicom

__all__ = ["read_medical_image", "read_image", "convert_camus", "read_camus_cases", "CamusCase", "convert_echonet",
           "echonet_masks", "IMAGE_SUFFIXES", "CAMUS_SOURCES"]

IMAGE_SUFFIXES = (".mhd", ".nii.gz", ".nii")
CASES_CSV = "cases.csv"
# Database folders of the shared CAMUS copy -> whether their header spacing is the true
# one (the 2CH copy was resampled to 224x224 squares: spacing unknown).
CAMUS_SOURCES = {"database_nifti": True, "database_2ch_224": False}


def read_medical_image(path: str | Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a NIfTI (``.nii``, ``.nii.gz``) or MetaImage (``.mhd`` + raw) file.

    Returns:
        The voxels in (z, y, x) order (for CAMUS: (1, rows, cols) with the
        transducer at the top) and the spacing in (x, y[, z]) order as the header
        states it.

    Raises:
        ValueError: the file cannot be read as a medical image.
    """
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a readable NIfTI/MetaImage file ({str(exc).strip().splitlines()[-1]}); "
                         "check that the file is complete") from exc
    return sitk.GetArrayFromImage(image), tuple(float(s) for s in image.GetSpacing())


def read_image(stem: Path) -> tuple[np.ndarray, tuple[float, ...]] | None:
    """Read ``stem.mhd``, ``stem.nii.gz`` or ``stem.nii`` if one exists, else None."""
    for suffix in IMAGE_SUFFIXES:
        p = stem.with_name(stem.name + suffix)
        if p.is_file():
            return read_medical_image(p)
    return None


def _as_frames(arr: np.ndarray) -> np.ndarray:
    """(H, W) or (T, H, W) [or (1, H, W)] to (T, H, W)."""
    arr = np.squeeze(arr)
    return arr[None] if arr.ndim == 2 else arr


def _write_case(path_stem: Path, frames: np.ndarray, labels: np.ndarray, spacing_xy: tuple[float, float] | None,
                label_set: list[int], fps: float | None) -> None:
    """One loop as DICOM plus its label file; ``spacing_xy`` None writes no calibration."""
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    h, w = frames.shape[1:]
    regions = [] if spacing_xy is None else [RegionSpec(0, 0, w - 1, h - 1, spacing_xy[0] / 10.0, spacing_xy[1] / 10.0)]
    name = path_stem.name
    write_us_dicom(path_stem.with_name(f"{name}.dcm"), frames, frame_time_ms=None if not fps else 1000.0 / fps,
                   regions=regions, identity=DicomIdentity(patient_id=name.split("_")[0], seed_text=name))
    np.savez_compressed(path_stem.with_name(f"{name}_labels.npz"), labels=labels.astype(np.uint8),
                        label_set=np.array(label_set))


@dataclass(frozen=True)
class CamusCase:
    """One converted CAMUS case (a patient's view) as listed in ``cases.csv``.

    Attributes:
        name: ``patientXXXX_{2CH,4CH}``; the files are ``<split>/<name>.dcm`` and
            ``<split>/<name>_labels.npz`` under the conversion folder.
        patient: ``patientXXXX``.
        view: ``2CH`` or ``4CH``.
        split: ``train``/``valid`` from ``patients.csv``, or ``""`` when unknown.
        image_quality: ``Good``/``Medium``/``Poor`` from ``patients.csv``, or ``""``.
        spacing_mm: pixel size written into the DICOM, or None when the header's
            spacing is not the true one (``calibrated=False``): no volumes then.
        frames: ``"ED,ES"`` (frame 0 is ED, frame 1 ES) or ``"half_sequence"``.
    """

    name: str
    patient: str
    view: str
    split: str
    image_quality: str
    spacing_mm: float | None
    frames: str

    def relpath(self) -> str:
        """The case's DICOM file relative to the conversion folder."""
        return f"{self.split}/{self.name}.dcm" if self.split else f"{self.name}.dcm"


def _patients_table(src: Path) -> dict[str, dict[str, str]]:
    """``patients.csv`` of a CAMUS copy (in ``src`` or its parent), by patient; empty when absent."""
    for folder in (src, src.parent):
        table = folder / "patients.csv"
        if table.is_file():
            with table.open(newline="") as fh:
                return {row["patient"]: row for row in csv.DictReader(fh)}
    return {}


def read_camus_cases(folder: str | Path) -> list[CamusCase]:
    """The cases a :func:`convert_camus` run wrote into ``folder`` (from its ``cases.csv``).

    Raises:
        FileNotFoundError: ``folder`` holds no ``cases.csv``.
    """
    path = Path(folder) / CASES_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: convert CAMUS first (echoquant convert camus SRC -o {folder})")
    with path.open(newline="") as fh:
        return [CamusCase(r["name"], r["patient"], r["view"], r["split"], r["image_quality"],
                          float(r["spacing_mm"]) if r["spacing_mm"] else None, r["frames"]) for r in csv.DictReader(fh)]


def _write_cases_csv(out: Path, cases: list[CamusCase]) -> None:
    """Merge ``cases`` into ``out/cases.csv`` (by name) and write it atomically."""
    merged = {c.name: c for c in (read_camus_cases(out) if (out / CASES_CSV).is_file() else [])}
    merged.update({c.name: c for c in cases})
    tmp = out / f".{CASES_CSV}.partial"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CamusCase.__dataclass_fields__))
        writer.writeheader()
        for name in sorted(merged):
            row = asdict(merged[name])
            row["spacing_mm"] = "" if row["spacing_mm"] is None else f"{row['spacing_mm']:.6g}"
            writer.writerow(row)
    tmp.replace(out / CASES_CSV)


def _camus_view(base: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], str] | None:
    """Frames, labels, spacing and frame kind of one CAMUS view, or None when incomplete."""
    half = read_image(base.with_name(base.name + "_half_sequence"))
    half_gt = read_image(base.with_name(base.name + "_half_sequence_gt"))
    if half is not None and half_gt is not None:
        return _as_frames(half[0]), _as_frames(half_gt[0]), half[1], "half_sequence"
    parts = [(read_image(base.with_name(base.name + f"_{p}")), read_image(base.with_name(base.name + f"_{p}_gt")))
             for p in ("ED", "ES")]
    if any(img is None or gt is None for img, gt in parts):
        return None
    frames = np.concatenate([_as_frames(img[0]) for img, _ in parts])
    labels = np.concatenate([_as_frames(gt[0]) for _, gt in parts])
    return frames, labels, parts[0][0][1], "ED,ES"


def convert_camus(src: str | Path, out: str | Path, *, calibrated: bool = True,
                  splits: tuple[str, ...] | None = None) -> list[str]:
    """Convert a CAMUS folder into the training layout.

    Half-sequences are used when present (all frames, labelled where
    ``_half_sequence_gt`` is), else the ED and ES frames as a 2-frame loop (ED first).
    With a ``patients.csv`` in ``src`` or its parent, each case goes into
    ``out/<split>/``; every run merges its cases into ``out/cases.csv``.

    Args:
        src: folder of ``patientXXXX`` folders.
        out: output folder.
        calibrated: False when the headers' pixel spacing is not the true one (the
            shared 2CH copy, resampled to 224x224 squares): no calibration is
            written, so nothing downstream reports volumes in mL from it.
        splits: convert only patients of these splits (needs ``patients.csv``).

    Returns:
        The names of the cases written.

    Raises:
        FileNotFoundError: ``src`` holds no ``patientXXXX`` folder.
        ValueError: an image and its labels differ in shape, or ``splits`` is given
            without a ``patients.csv``.
    """
    src, out = Path(src), Path(out)
    patients = sorted(p for p in src.iterdir() if p.is_dir() and p.name.startswith("patient")) if src.is_dir() else []
    if not patients:
        raise FileNotFoundError(f"no patientXXXX folders in {src}: point at CAMUS's database folder "
                                "(e.g. database_nifti)")
    table = _patients_table(src)
    if splits and not table:
        raise ValueError(f"splits {splits} asked for, but no patients.csv in {src} or {src.parent}")
    cases: list[CamusCase] = []
    for patient in patients:
        info = table.get(patient.name, {})
        split = info.get("split", "")
        if splits and split not in splits:
            continue
        for view in ("2CH", "4CH"):
            loaded = _camus_view(patient / f"{patient.name}_{view}")
            if loaded is None:
                continue
            frames, labels, spacing, kind = loaded
            if frames.shape != labels.shape:
                raise ValueError(f"{patient / view}: image {frames.shape} and labels {labels.shape} differ")
            dest = out / split if split else out
            dest.mkdir(parents=True, exist_ok=True)
            name = f"{patient.name}_{view}"
            _write_case(dest / name, frames, labels, (spacing[0], spacing[1]) if calibrated else None, [1, 2, 3], None)
            cases.append(CamusCase(name, patient.name, view, split, info.get("image_quality", ""),
                                   float(spacing[0]) if calibrated else None, kind))
    out.mkdir(parents=True, exist_ok=True)
    _write_cases_csv(out, cases)
    return [c.name for c in cases]


def echonet_masks(tracings: list[tuple[float, float, float, float]], shape: tuple[int, int]) -> np.ndarray:
    """Fill EchoNet-Dynamic's traced chords into an LV cavity mask.

    The first row of a frame's tracing is the long axis; the others are chords
    across the cavity; their (X1, Y1) ends run down one wall and (X2, Y2) the other.
    """
    chords = np.asarray(tracings[1:] if len(tracings) > 1 else tracings, dtype=np.float64)
    side1, side2 = chords[:, :2], chords[:, 2:]
    poly = np.concatenate([side1, side2[::-1]])
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32).reshape(-1, 1, 2)], 1, shift=4)
    return mask


def convert_echonet(src: str | Path, out: str | Path, split: str | None = None) -> list[str]:
    """Convert EchoNet-Dynamic: each video is copied with a ``_labels.npz`` whose
    traced frames (ED and ES) hold the LV cavity; videos of another ``split``
    (TRAIN/VAL/TEST) are skipped when ``split`` is given."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    with (src / "FileList.csv").open() as fh:
        for row in csv.DictReader(fh):
            if split is None or row.get("Split", "").upper() == split.upper():
                files[Path(row["FileName"]).stem] = row
    traces: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    with (src / "VolumeTracings.csv").open() as fh:
        for row in csv.DictReader(fh):
            stem = Path(row["FileName"]).stem
            traces[stem][int(row["Frame"])].append(tuple(float(row[k]) for k in ("X1", "Y1", "X2", "Y2")))
    from echoquant.io import read_video

    written = []
    for stem, row in sorted(files.items()):
        video = src / "Videos" / f"{stem}.avi"
        if not video.is_file() or stem not in traces:
            continue
        cine = read_video(video)
        labels = np.zeros(cine.frames.shape, dtype=np.uint8)
        for frame, tr in traces[stem].items():
            if 0 <= frame < len(labels):
                labels[frame] = echonet_masks(tr, cine.shape)
        shutil.copyfile(video, out / f"{stem}.avi")
        np.savez_compressed(out / f"{stem}_labels.npz", labels=labels, label_set=np.array([1]))
        written.append(stem)
    return written
