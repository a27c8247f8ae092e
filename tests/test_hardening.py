"""Hardening: identifiers stay out of logs and messages, runs are deterministic,
interrupted batches lose nothing (SIGKILL at random points, then --continue)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from echoquant.export.tables import TIMING_COLUMNS
from echoquant.io.writer import DicomIdentity, write_us_dicom
from echoquant.privacy import identifiers_of, scrub

NAME, PID, BIRTH = "DOE^JANE", "PID98765", "19700101"


def _private_loop(folder: Path, name: str, *, corrupt: bool = False) -> Path:
    rng = np.random.default_rng(3)
    path = write_us_dicom(folder / name, rng.integers(0, 255, (4, 40, 48), dtype=np.uint8), frame_time_ms=20.0,
                          identity=DicomIdentity(patient_id=PID, seed_text=name))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.PatientName, ds.PatientBirthDate = NAME, BIRTH
    ds.save_as(path)
    if corrupt:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 3000])
    return path


def test_scrub_replaces_every_identifier(tmp_path) -> None:
    path = _private_loop(tmp_path, "x.dcm")
    ids = identifiers_of(path)
    text = f"/data/{PID}/scan of DOE, JANE born {BIRTH}: bad"
    out = scrub(text, ids)
    assert PID not in out and "DOE" not in out and "JANE" not in out and BIRTH not in out
    assert out.endswith(": bad")


def test_identifiers_not_in_logs_or_errors(tmp_path) -> None:
    folder = tmp_path / PID  # studies are often filed under the patient's ID
    folder.mkdir()
    _private_loop(folder, "loop.dcm", corrupt=True)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "echoquant.cli", "analyze", str(folder), "-o", str(out),
                           "--device", "cpu", "--workers", "0"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    logs = proc.stdout + proc.stderr
    assert "failed" in logs
    for secret in (PID, "DOE", "JANE", BIRTH):
        assert secret not in logs
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "failed" and PID not in row["error"] and BIRTH not in row["error"]
    info = subprocess.run([sys.executable, "-m", "echoquant.cli", "info", str(folder / "loop.dcm")],
                          capture_output=True, text=True, timeout=120)
    assert PID not in info.stdout + info.stderr


@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> Path:
    from tests.test_batch import _small_case

    tmp = tmp_path_factory.mktemp("hard")
    for k in range(3):
        _small_case(tmp, f"loop{k}", 400 + k)
    (tmp / "study" / "broken.dcm").write_bytes(b"\x00" * 200)
    return tmp / "study"


def _run(study: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "echoquant.cli", "analyze", str(study), "-o", str(out), "--device",
                           "cpu", "--allow-failures", *extra], capture_output=True, text=True, timeout=600)


def test_two_runs_give_identical_results(small_study: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(small_study, a).returncode == 0 and _run(small_study, b, "--workers", "0").returncode == 0
    ta = pd.read_csv(a / "results.csv").drop(columns=list(TIMING_COLUMNS))
    tb = pd.read_csv(b / "results.csv").drop(columns=list(TIMING_COLUMNS))
    assert ta.to_csv(index=False) == tb.to_csv(index=False)
    # the per-clip JSON (curves, beats) is identical too, apart from the timing field
    for f in sorted((a / "clips").glob("*.json")):
        ra, rb = f.read_text(), (b / "clips" / f.name).read_text()
        strip = lambda t: "\n".join(l for l in t.splitlines() if '"elapsed_s"' not in l)  # noqa: E731
        assert strip(ra) == strip(rb), f.name


@pytest.mark.slow
def test_sigkill_at_random_points_then_continue(small_study: Path, tmp_path: Path) -> None:
    """Ten runs killed at random moments, each resumed: every clip exactly once, no
    temporary file left, values identical to an uninterrupted run."""
    ref = tmp_path / "ref"
    assert _run(small_study, ref).returncode == 0
    expected = pd.read_csv(ref / "results.csv").drop(columns=list(TIMING_COLUMNS)).set_index("path").sort_index()
    rng = np.random.default_rng(0)
    for k in range(10):
        out = tmp_path / f"run{k}"
        cmd = [sys.executable, "-m", "echoquant.cli", "analyze", str(small_study), "-o", str(out), "--device", "cpu",
               "--allow-failures"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(float(rng.uniform(2.0, 25.0)))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        done = _run(small_study, out, "--continue") if (out / "clips").is_dir() else _run(small_study, out)
        assert done.returncode == 0, done.stderr
        assert not list(out.rglob("*.partial")), k
        got = pd.read_csv(out / "results.csv").drop(columns=list(TIMING_COLUMNS)).set_index("path").sort_index()
        assert got.index.is_unique and list(got.index) == list(expected.index)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
