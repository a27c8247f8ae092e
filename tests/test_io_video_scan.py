"""Video reader and folder discovery."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from echoquant.errors import VideoReadError
from echoquant.flags import has_flag
from echoquant.io import read_cine, scan
from echoquant.io.writer import DicomIdentity, write_us_dicom

from .conftest import moving_loop


def _write_avi(path: Path, frames: np.ndarray, fps: int) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuvj420p"
        for f in frames:
            rgb = np.repeat(f[..., None], 3, axis=-1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_avi_like_echonet(tmp_path):
    frames = moving_loop(n=20, rows=112, cols=112)
    cine = read_cine(_write_avi(tmp_path / "0X1234.avi", frames, fps=50))
    assert cine.frames.shape == (20, 112, 112)
    assert cine.fps == pytest.approx(50)
    assert cine.frame_times_ms[1] == pytest.approx(20.0)
    assert cine.spacing_mm is None and has_flag(cine.flags, "calibration_missing")
    # MJPEG is lossy on pure speckle: compare by correlation, not equality.
    assert np.corrcoef(cine.frames.ravel(), frames.ravel())[0, 1] > 0.9


def test_broken_video(tmp_path):
    p = tmp_path / "broken.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(VideoReadError):
        read_cine(p)


def test_scan_by_content_groups_and_skips(tmp_path):
    root = tmp_path / "study"
    (root / "a" / "b").mkdir(parents=True)
    write_us_dicom(root / "a" / "IMG0001", moving_loop(), frame_time_ms=20,
                   identity=DicomIdentity(seed_text="s1", study_uid="1.2.3", series_uid="1.2.3.1"))
    write_us_dicom(root / "a" / "b" / "IMG0002.bin", moving_loop(), frame_time_ms=20,
                   identity=DicomIdentity(seed_text="s2", study_uid="1.2.3", series_uid="1.2.3.2"))
    shutil.copy(get_testdata_file("CT_small.dcm"), root / "ct")
    (root / "readme.txt").write_text("not dicom")
    (root / "loop.avi").write_bytes(b"")
    result = scan(root)
    names = {Path(e.path).name: e for e in result.entries}
    assert set(names) == {"IMG0001", "IMG0002.bin", "ct", "loop.avi"}
    assert names["IMG0001"].usable and names["IMG0001"].n_frames == 12
    assert not names["ct"].usable and names["ct"].reason.startswith("not_ultrasound")
    groups = result.by_study()
    assert set(groups) == {"1.2.3", ""} and set(groups["1.2.3"]) == {"1.2.3.1", "1.2.3.2"}


def test_scan_corpus_header_only(corpus_dir):
    result = scan(corpus_dir)
    assert len(result.entries) == 17 and all(e.usable for e in result.entries)
