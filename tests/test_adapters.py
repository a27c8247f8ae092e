"""CAMUS and EchoNet-Dynamic adapters on tiny fake datasets written in their layouts."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from echoquant.segment.adapters import convert_camus, convert_echonet, read_camus_cases, read_medical_image
from echoquant.segment.data import FolderDataModule

from .conftest import moving_loop


def _write_mhd(stem: Path, arr: np.ndarray, spacing=(0.3, 0.3, 1.0)) -> None:
    raw = stem.with_name(stem.name + ".raw")
    arr.astype(np.uint8).tofile(raw)
    dims = " ".join(str(d) for d in arr.shape[::-1])
    stem.with_name(stem.name + ".mhd").write_text(
        f"ObjectType = Image\nNDims = {arr.ndim}\nDimSize = {dims}\nElementType = MET_UCHAR\n"
        f"ElementSpacing = {' '.join(str(s) for s in spacing[: arr.ndim])}\nElementDataFile = {raw.name}\n")


def _write_nifti(path: Path, arr: np.ndarray, spacing=(0.3, 0.3, 1.0)) -> None:
    data = np.asarray(arr, dtype=np.uint8).T  # (x, y, z) Fortran order on disk
    hdr = bytearray(352)
    struct.pack_into("<i", hdr, 0, 348)
    dims = [data.ndim] + list(data.shape) + [1] * (7 - data.ndim)
    struct.pack_into("<8h", hdr, 40, *dims)
    struct.pack_into("<h", hdr, 70, 2)
    struct.pack_into("<h", hdr, 72, 8)
    struct.pack_into("<8f", hdr, 76, 1.0, *spacing[: data.ndim], *([1.0] * (7 - data.ndim)))
    struct.pack_into("<f", hdr, 108, 352.0)
    hdr[344:348] = b"n+1\x00"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(hdr) + data.tobytes(order="F"))


def _cavity(h, w, r):
    yy, xx = np.mgrid[0:h, 0:w]
    lab = np.zeros((h, w), np.uint8)
    lab[((yy - h / 2) / r) ** 2 + ((xx - w / 2) / (0.6 * r)) ** 2 < 1.6] = 2
    lab[((yy - h / 2) / r) ** 2 + ((xx - w / 2) / (0.6 * r)) ** 2 < 1] = 1
    lab[int(h / 2 + r * 1.3) :, int(w / 2 - 8) : int(w / 2 + 8)] = 3
    return lab


def test_mhd_and_nifti_readers_agree(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (3, 20, 30)).astype(np.uint8)
    _write_mhd(tmp_path / "a", arr)
    _write_nifti(tmp_path / "b.nii.gz", arr)
    a, sa = read_medical_image(tmp_path / "a.mhd")
    b, sb = read_medical_image(tmp_path / "b.nii.gz")
    assert np.array_equal(a, arr) and np.array_equal(b, arr)
    assert sa[:2] == pytest.approx((0.3, 0.3)) and sb[:2] == pytest.approx((0.3, 0.3))


def test_unreadable_medical_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.nii.gz"
    bad.write_bytes(b"not a nifti")
    with pytest.raises(ValueError, match="not a readable NIfTI/MetaImage"):
        read_medical_image(bad)


def _fake_camus(src: Path, patients: dict[str, str]) -> None:
    """A CAMUS-like database folder (NIfTI, ED/ES, 4CH) and its patients.csv beside it."""
    frames = moving_loop(n=2, rows=96, cols=128)
    for pid in patients:
        d = src / pid
        d.mkdir(parents=True)
        for phase, r in (("ED", 24), ("ES", 18)):
            _write_nifti(d / f"{pid}_4CH_{phase}.nii.gz", frames[0], spacing=(0.616, 0.616, 1.0))
            _write_nifti(d / f"{pid}_4CH_{phase}_gt.nii.gz", _cavity(96, 128, r), spacing=(0.616, 0.616, 1.0))
    rows = ["patient,split,sex,age,image_quality,lvef_reference_pct,has_2ch"]
    rows += [f"{pid},{split},F,50,Good,55,False" for pid, split in patients.items()]
    (src.parent / "patients.csv").write_text("\n".join(rows) + "\n")


def test_camus_splits_into_subfolders_with_case_list(tmp_path):
    from echoquant.io import read_cine

    src = tmp_path / "camus" / "database_nifti"
    _fake_camus(src, {"patient0001": "train", "patient0002": "valid"})
    out = tmp_path / "converted"
    assert convert_camus(src, out) == ["patient0001_4CH", "patient0002_4CH"]
    assert (out / "train" / "patient0001_4CH.dcm").is_file() and (out / "valid" / "patient0002_4CH.dcm").is_file()
    cases = {c.name: c for c in read_camus_cases(out)}
    assert cases["patient0002_4CH"].split == "valid" and cases["patient0002_4CH"].image_quality == "Good"
    assert cases["patient0001_4CH"].spacing_mm == pytest.approx(0.616)
    assert read_cine(out / "train" / "patient0001_4CH.dcm").spacing_mm == pytest.approx((0.616, 0.616), abs=1e-4)
    # Only one split, and without a calibration: the case list is merged, no spacing is written.
    out2 = tmp_path / "uncal"
    assert convert_camus(src, out2, calibrated=False, splits=("valid",)) == ["patient0002_4CH"]
    assert read_camus_cases(out2)[0].spacing_mm is None
    assert read_cine(out2 / "valid" / "patient0002_4CH.dcm").spacing_mm is None


def test_camus_conversion_refuses_wrong_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="patientXXXX"):
        convert_camus(tmp_path, tmp_path / "out")
    (tmp_path / "db" / "patient0001").mkdir(parents=True)
    with pytest.raises(ValueError, match="patients.csv"):
        convert_camus(tmp_path / "db", tmp_path / "out", splits=("train",))


def test_camus_layout_converts_and_loads(tmp_path):
    src = tmp_path / "camus"
    frames = moving_loop(n=2, rows=96, cols=128)
    for k, pid in enumerate(("patient0001", "patient0002")):
        d = src / pid
        d.mkdir(parents=True)
        for view in ("2CH", "4CH"):
            for phase, r in (("ED", 24), ("ES", 18)):
                stem = d / f"{pid}_{view}_{phase}"
                if k == 0:
                    _write_mhd(stem, frames[0])
                    _write_mhd(stem.with_name(stem.name + "_gt"), _cavity(96, 128, r))
                else:
                    _write_nifti(stem.with_name(stem.name + ".nii.gz"), frames[1])
                    _write_nifti(stem.with_name(stem.name + "_gt.nii.gz"), _cavity(96, 128, r))
    out = tmp_path / "converted"
    names = convert_camus(src, out)
    assert names == ["patient0001_2CH", "patient0001_4CH", "patient0002_2CH", "patient0002_4CH"]
    labels = np.load(out / "patient0001_4CH_labels.npz")["labels"]
    assert labels.shape == (2, 96, 128) and set(np.unique(labels)) == {0, 1, 2, 3}
    dm = FolderDataModule(str(out), str(out), image_size=32, frames_per_case=2, batch_size=2, augment=0.0)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (2, 1, 32, 32) and batch["label"].max() <= 3


def test_echonet_layout_converts(tmp_path):
    import av

    src = tmp_path / "echonet"
    (src / "Videos").mkdir(parents=True)
    frames = moving_loop(n=10, rows=112, cols=112)
    with av.open(str(src / "Videos" / "0X1A.avi"), "w") as out:
        stream = out.add_stream("mjpeg", rate=50)
        stream.width = stream.height = 112
        stream.pix_fmt = "yuvj420p"
        for f in frames:
            for p in stream.encode(av.VideoFrame.from_ndarray(np.repeat(f[..., None], 3, -1), format="rgb24")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    (src / "FileList.csv").write_text("FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n"
                                      "0X1A,60,20,50,112,112,50,10,TRAIN\n0X2B,55,20,45,112,112,50,10,VAL\n")
    rows = ["FileName,X1,Y1,X2,Y2,Frame"]
    for frame, half in ((2, 20), (7, 14)):
        rows.append(f"0X1A.avi,56,20,56,90,{frame}")  # long axis first
        for y in range(25, 90, 5):
            rows.append(f"0X1A.avi,{56 - half},{y},{56 + half},{y},{frame}")
    (src / "VolumeTracings.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "converted"
    assert convert_echonet(src, out, split="TRAIN") == ["0X1A"]
    d = np.load(out / "0X1A_labels.npz")
    labels = d["labels"]
    assert labels[2].sum() > labels[7].sum() > 0 and labels[0].sum() == 0
    assert list(d["label_set"]) == [1]
    assert abs(int(labels[2].sum()) - 40 * 65) < 0.1 * 40 * 65
    # LV-only labels are refused for training rather than learnt as "myocardium = background".
    dm = FolderDataModule(str(out), str(out), image_size=32, frames_per_case=2, augment=0.0)
    with pytest.raises(ValueError, match="partial-label"):
        dm.setup()
