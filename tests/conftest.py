"""Shared fixtures: real files (pydicom, pydicom-data, ../shared corpus) and writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "dicom-corpus"


def corpus_files() -> list[Path]:
    """Every file of ../shared/dicom-corpus (empty when the folder is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.md")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/dicom-corpus is absent")
    return CORPUS


@pytest.fixture(scope="session")
def a4c_loop_path() -> str:
    """pydicom-data's color3d_jpeg_baseline.dcm: a real 120-frame apical 4-chamber loop."""
    data = pytest.importorskip("data_store", reason="pydicom-data is not installed")
    del data
    from pydicom.data import get_testdata_file

    return get_testdata_file("color3d_jpeg_baseline.dcm")


@pytest.fixture(scope="session")
def ybr_color_path() -> str:
    from pydicom import examples

    return str(examples.get_path("ybr_color"))


def moving_loop(n: int = 12, rows: int = 96, cols: int = 128, seed: int = 0) -> np.ndarray:
    """A small loop with a moving speckle sector and static burned-in text."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols]
    apex = (5, cols // 2)
    r = np.hypot(yy - apex[0], xx - apex[1])
    ang = np.degrees(np.arctan2(xx - apex[1], yy - apex[0]))
    fan = (r < rows - 8) & (np.abs(ang) < 38)
    frames = np.zeros((n, rows, cols), dtype=np.uint8)
    for t in range(n):
        speckle = rng.gamma(1.5, 40, size=(rows, cols))
        frames[t][fan] = np.clip(speckle[fan] + 20, 0, 255).astype(np.uint8)
        frames[t, 2:6, 2:20] = 220  # static "text"
    return frames
