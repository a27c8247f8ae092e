"""Format adapters: public echo datasets into echoquant's training layout.

The layout (read by :class:`echoquant.segment.data.FolderDataModule`) is one loop
per case as ``NAME.dcm`` or ``NAME.avi`` plus ``NAME_labels.npz`` holding
``labels (T, H, W)`` uint8 (0 background, 1 LV cavity, 2 LV myocardium, 3 LA; an
all-zero frame is unlabelled) and ``label_set`` (the classes that were annotated).

- CAMUS: ``patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].{mhd,nii.gz}`` and the
  ``_half_sequence[_gt]`` files; labels already follow the same convention.
- EchoNet-Dynamic: ``Videos/*.avi``, ``FileList.csv`` (with its ``Split`` column) and
  ``VolumeTracings.csv``, whose traced chords are filled into LV cavity masks.
  EchoNet annotates the LV cavity only (``label_set = [1]``).
"""

from __future__ import annotations

import csv
import gzip
import shutil
import struct
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from echoquant.io.writer import DicomIdentity, RegionSpec, write_us_dicom

__all__ = ["read_mhd", "read_nifti", "read_image", "convert_camus", "convert_echonet", "echonet_masks"]

_MET_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
              "MET_UINT": np.uint32, "MET_INT": np.int32, "MET_FLOAT": np.float32, "MET_DOUBLE": np.float64}
_NIFTI_TYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 256: np.int8, 512: np.uint16}


def read_mhd(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """MetaImage (``.mhd`` + raw file): array in (z, y, x) order and spacing (x, y, z)."""
    header = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            header[k.strip()] = v.strip()
    dims = [int(x) for x in header["DimSize"].split()]
    dtype = np.dtype(_MET_TYPES[header["ElementType"]])
    if header.get("BinaryDataByteOrderMSB", "False").lower() == "true":
        dtype = dtype.newbyteorder(">")
    raw = path.parent / header["ElementDataFile"]
    data = np.fromfile(raw, dtype=dtype)
    spacing = tuple(float(x) for x in header.get("ElementSpacing", " ".join(["1"] * len(dims))).split())
    return data.reshape(dims[::-1]), spacing


def read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """NIfTI-1 (``.nii`` or ``.nii.gz``): array in (x, y[, z]) order transposed to
    (z, y, x) like :func:`read_mhd`, and spacing (x, y, z)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    endian = "<" if struct.unpack("<i", data[:4])[0] == 348 else ">"
    dim = struct.unpack(f"{endian}8h", data[40:56])
    datatype = struct.unpack(f"{endian}h", data[70:72])[0]
    pixdim = struct.unpack(f"{endian}8f", data[76:108])
    offset = int(struct.unpack(f"{endian}f", data[108:112])[0])
    ndim = dim[0]
    shape = dim[1 : ndim + 1]
    dtype = np.dtype(_NIFTI_TYPES[datatype]).newbyteorder(endian)
    arr = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape, order="F")
    return np.ascontiguousarray(arr.T), tuple(float(p) for p in pixdim[1 : ndim + 1])


def read_image(stem: Path) -> tuple[np.ndarray, tuple[float, ...]] | None:
    """Read ``stem.mhd``, ``stem.nii.gz`` or ``stem.nii`` if one exists."""
    for suffix, reader in ((".mhd", read_mhd), (".nii.gz", read_nifti), (".nii", read_nifti)):
        p = stem.with_name(stem.name + suffix)
        if p.is_file():
            return reader(p)
    return None


def _as_frames(arr: np.ndarray) -> np.ndarray:
    """(H, W) or (T, H, W) [or (1, H, W)] to (T, H, W)."""
    arr = np.squeeze(arr)
    return arr[None] if arr.ndim == 2 else arr


def _write_case(out: Path, name: str, frames: np.ndarray, labels: np.ndarray, spacing_xy: tuple[float, float],
                label_set: list[int], fps: float | None) -> None:
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    h, w = frames.shape[1:]
    region = RegionSpec(0, 0, w - 1, h - 1, spacing_xy[0] / 10.0, spacing_xy[1] / 10.0)
    write_us_dicom(out / f"{name}.dcm", frames, frame_time_ms=None if not fps else 1000.0 / fps, regions=[region],
                   identity=DicomIdentity(patient_id=name.split("_")[0], seed_text=name))
    np.savez_compressed(out / f"{name}_labels.npz", labels=labels.astype(np.uint8), label_set=np.array(label_set))


def convert_camus(src: str | Path, out: str | Path) -> list[str]:
    """Convert a CAMUS folder. Half-sequences are used when present (all frames,
    labelled where ``_half_sequence_gt`` is), else the ED and ES frames as a 2-frame loop.

    Returns:
        The names of the cases written.
    """
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for patient in sorted(p for p in src.iterdir() if p.is_dir() and p.name.startswith("patient")):
        for view in ("2CH", "4CH"):
            base = patient / f"{patient.name}_{view}"
            half = read_image(base.with_name(base.name + "_half_sequence"))
            half_gt = read_image(base.with_name(base.name + "_half_sequence_gt"))
            if half is not None and half_gt is not None:
                frames, spacing = _as_frames(half[0]), half[1]
                labels = _as_frames(half_gt[0])
            else:
                parts = [(read_image(base.with_name(base.name + f"_{p}")), read_image(base.with_name(base.name + f"_{p}_gt")))
                         for p in ("ED", "ES")]
                if any(img is None or gt is None for img, gt in parts):
                    continue
                frames = np.concatenate([_as_frames(img[0]) for img, _ in parts])
                labels = np.concatenate([_as_frames(gt[0]) for _, gt in parts])
                spacing = parts[0][0][1]
            if frames.shape != labels.shape:
                raise ValueError(f"{base}: image {frames.shape} and labels {labels.shape} differ")
            name = f"{patient.name}_{view}"
            _write_case(out, name, frames, labels, (spacing[0], spacing[1]), [1, 2, 3], None)
            written.append(name)
    return written


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
