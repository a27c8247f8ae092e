"""Scoring API and batch CLI: every input gets one row, bad files do not stop a
batch, SR round trip, sharding, --continue after SIGKILL, determinism."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from echoquant.batch import BatchError, BatchOptions, clip_id_for, collect_inputs, run_batch, select_part
from echoquant.export.tables import RESULT_COLUMNS, TIMING_COLUMNS
from echoquant.io.writer import write_us_dicom
from echoquant.synth import generate_case, sample_params
from echoquant.synth.write import write_case

CONTRACT = ["path", "status", "error", "patient_id", "study_uid", "series_uid", "sop_uid", "view", "fps",
            "spacing_mm", "lvef_pct", "edv_ml", "esv_ml", "gls_pct", "n_beats", "qc_flags", "model",
            "echoquant_version"]


def _small_case(tmp: Path, name: str, seed: int) -> Path:
    params = sample_params("human", seed, canvas=(240, 320), n_beats=1.8, fps=30.0)
    write_case(generate_case(params), tmp / "gen", name)
    dst = tmp / "study" / f"{name}.dcm"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(tmp / "gen" / f"{name}.dcm", dst)
    return dst


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good synthetic loops and one of each kind of bad input."""
    tmp = tmp_path_factory.mktemp("batch")
    good = [_small_case(tmp, f"loop{k}", 300 + k) for k in range(2)]
    folder = good[0].parent
    data = good[1].read_bytes()
    (folder / "truncated.dcm").write_bytes(data[: len(data) // 3])
    (folder / "garbage.dcm").write_bytes(b"this is not a DICOM file" * 20)
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "ct.dcm")
    write_us_dicom(folder / "one_frame.dcm", np.full((1, 64, 64), 80, np.uint8), frame_time_ms=20.0)
    (folder / "notes.txt").write_text("acquired on scanner 2")
    return folder


EXPECTED = {"loop0.dcm": ("ok", None), "loop1.dcm": ("ok", None), "truncated.dcm": ("failed", "corrupt_pixel_data"),
            "garbage.dcm": ("failed", "not_dicom"), "ct.dcm": ("failed", "not_ultrasound"),
            "one_frame.dcm": ("failed", "single_frame"), "notes.txt": ("skipped", "not_dicom")}


@pytest.fixture(scope="module")
def analyzer():
    from echoquant import Analyzer

    return Analyzer(device="cpu")


@pytest.fixture(scope="module")
def first_run(study: Path, analyzer, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("out")
    summary = run_batch([study], out, analyzer, BatchOptions(sr=True, overlays=True, workers=1))
    return out, summary


def test_every_input_gets_one_row_with_its_status(first_run) -> None:
    out, summary = first_run
    df = pd.read_csv(out / "results.csv")
    assert set(CONTRACT) <= set(df.columns) and list(df.columns) == RESULT_COLUMNS
    assert sorted(Path(p).name for p in df["path"]) == sorted(EXPECTED)
    for _, row in df.iterrows():
        status, code = EXPECTED[Path(row["path"]).name]
        assert row["status"] == status, row["path"]
        if code:
            assert row["error_code"] == code and isinstance(row["error"], str) and len(row["error"]) > 20
    ok = df[df.status == "ok"]
    assert ok["lvef_pct"].between(5, 90).all() and ok["edv_ml"].gt(0).all()
    assert (ok["model"] == "echoquant_lv_unet").all()
    # the weights that segmented each loop: the default's rodent weights for mouse and rat loops
    loops = ok[ok["mode"] == "2d"]
    rodent = loops["species"].isin(["mouse", "rat"])
    assert len(loops) and (loops["weights"] == rodent.map({True: "echoquant_lv_unet_rodent",
                                                           False: "echoquant_lv_unet"})).all()
    assert summary.n_failed == 4
    # one record per clip, overlays and SR only for scored clips, nothing half-written
    assert len(list((out / "clips").glob("*.json"))) == len(EXPECTED)
    assert len(list((out / "overlays").glob("*.gif"))) == 2 and len(list((out / "sr").glob("*.dcm"))) == 2
    assert not list(out.rglob("*.partial"))
    assert len(pd.read_parquet(out / "results.parquet")) == len(EXPECTED)


def test_clip_json_holds_curves_and_beats(first_run) -> None:
    out, _ = first_run
    df = pd.read_csv(out / "results.csv")
    row = df[df.status == "ok"].iloc[0]
    record = json.loads((out / "clips" / f"{row['clip_id']}.json").read_text())
    assert record["row"]["lvef_pct"] == pytest.approx(row["lvef_pct"])
    result = record["result"]
    assert len(result["curves"]["volume_ml"]) == row["n_frames"]
    assert len(result["beats"]) == row["n_beats"] and result["beats"][0]["ed_frame"] == result["ed_frames"][0]


def test_sr_reads_back_with_codes_units_values(first_run) -> None:
    import highdicom as hd

    out, _ = first_run
    df = pd.read_csv(out / "results.csv")
    row = df[df.status == "ok"].iloc[0]
    sr = hd.sr.srread(out / "sr" / f"{row['clip_id']}.dcm")
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert sr.PatientID == row["patient_id"] and sr.StudyInstanceUID == row["study_uid"]
    values = {}
    for group in sr.content.get_image_measurement_groups():
        for m in group.get_measurements():
            values[(m.name.value, m.name.scheme_designator)] = (m.value, m.unit.value)
    assert values[("18043-0", "LN")] == (pytest.approx(row["lvef_pct"], abs=1e-3), "%")
    assert values[("18026-5", "LN")] == (pytest.approx(row["edv_ml"], abs=1e-3), "ml")
    assert values[("18148-7", "LN")] == (pytest.approx(row["esv_ml"], abs=1e-3), "ml")
    assert values[("130671", "DCM")] == (pytest.approx(row["gls_pct"], abs=1e-3), "%")
    rois = sr.content.get_planar_roi_measurement_groups()
    assert len(rois) == 2 * row["n_beats"]
    ed = rois[0]
    assert ed.roi.GraphicType == "POLYLINE"
    ref = ed.roi.ContentSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == row["sop_uid"]
    assert int(ref.ReferencedFrameNumber) == int(float(str(row["ed_frames"]).split(";")[0])) + 1
    method = ed.get_measurements()[0].method
    assert (method.value, method.scheme_designator) == ("125208", "DCM")


def test_rerun_refuses_without_continue_and_resume_skips(first_run, study: Path, analyzer) -> None:
    out, first = first_run
    with pytest.raises(BatchError, match="--continue"):
        run_batch([study], out, analyzer, BatchOptions())
    again = run_batch([study], out, analyzer, BatchOptions(resume=True, workers=0))
    # ok and skipped clips are not redone; failed ones are tried again
    assert again.n_resumed == 3 and again.n_failed == 4
    a = pd.read_csv(out / "results.csv").drop(columns=list(TIMING_COLUMNS))
    assert len(a) == len(EXPECTED) and a["path"].is_unique


def test_shards_are_disjoint_and_cover(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{k:02d}.dcm" for k in range(11)]
    parts = [select_part(paths, 3, i) for i in range(3)]
    flat = [p for part in parts for p in part]
    assert sorted(flat) == sorted(paths) and len(set(flat)) == 11
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert select_part(list(reversed(paths)), 3, 1) == parts[1]


def test_clip_ids_are_safe_and_distinct(tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "loop.dcm", tmp_path / "y" / "loop.dcm"
    assert clip_id_for(a) != clip_id_for(b)
    evil = clip_id_for(Path("/data/../../etc/pass wd;rm -rf.dcm"))
    assert "/" not in evil and ".." not in evil and " " not in evil


def test_collect_inputs_skips_hidden_and_output(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"x")
    (tmp_path / ".hidden.dcm").write_bytes(b"x")
    (tmp_path / "out" / "clips").mkdir(parents=True)
    (tmp_path / "out" / "clips" / "r.json").write_text("{}")
    found = collect_inputs([tmp_path, tmp_path / "a.dcm"], exclude=tmp_path / "out")
    assert [p.name for p in found] == ["a.dcm"]


def test_score_api(study: Path) -> None:
    import echoquant

    res = echoquant.score(study / "loop0.dcm", device="cpu")
    assert res.lvef_pct is not None and 5 < res.lvef_pct < 90
    assert res.lv_masks.dtype == bool and res.lv_masks.shape[0] == res.cine_info["n_frames"]
    assert res.ed_frames and res.es_frames and isinstance(res.qc_flags, list)
    json.dumps(res.to_dict())
    # the model is cached: a second call does not load it again
    from echoquant.api import _cached_analyzer

    before = _cached_analyzer.cache_info().hits
    echoquant.score(study / "loop0.dcm", device="cpu", track=False)
    assert _cached_analyzer.cache_info().hits == before + 1


def test_score_many_keeps_failures(study: Path, analyzer) -> None:
    df = analyzer.score_many([study / "garbage.dcm", study / "missing.dcm"])
    assert list(df["status"]) == ["failed", "failed"]
    assert list(df["error_code"]) == ["not_dicom", "input_error"]


def test_cli_exit_codes(study: Path, tmp_path: Path) -> None:
    from echoquant.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(study / "garbage.dcm"), "-o", str(tmp_path / "o1"), "--workers", "0"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["analyze", str(study / "garbage.dcm"), "-o", str(tmp_path / "o2"), "--workers", "0",
                              "--allow-failures"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["analyze", str(study), "-o", str(tmp_path / "o3"), "--num-parts", "2",
                              "--part-id", "2"])
    assert res.exit_code == 2 and "part_id" in res.output
    assert (tmp_path / "o2" / "results.csv").is_file()


def _analyze_cmd(inputs: list[Path], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "echoquant.cli", "analyze", *map(str, inputs), "-o", str(out), "--device", "cpu",
            "--workers", "0", "--allow-failures", *extra]


def test_sigkill_then_continue_gives_every_clip_once(study: Path, first_run, tmp_path: Path) -> None:
    """Kill the batch once its first clip record lands, then resume: all rows exactly
    once, no partial files, the same values as the uninterrupted run."""
    ref_out, _ = first_run
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(_analyze_cmd([study], out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if len(list((out / "clips").glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(_analyze_cmd([study], out, "--continue"), env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert not list(out.rglob("*.partial"))
    got = pd.read_csv(out / "results.csv").drop(columns=list(TIMING_COLUMNS)).set_index("path")
    ref = pd.read_csv(ref_out / "results.csv").drop(columns=list(TIMING_COLUMNS)).set_index("path")
    assert got.index.is_unique and sorted(got.index) == sorted(ref.index)
    cols = ["status", "error_code", "lvef_pct", "edv_ml", "esv_ml", "gls_pct", "n_beats"]
    pd.testing.assert_frame_equal(got.loc[ref.index, cols], ref[cols])


def test_hydra_infer_config_runs_the_same_batch(study: Path, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from echoquant.infer import infer

    configs = Path(__file__).resolve().parents[1] / "configs"
    with initialize_config_dir(str(configs), version_base="1.3"):
        cfg = compose("infer", overrides=[f"input=[{study / 'garbage.dcm'},{study / 'notes.txt'}]",
                                          f"output={tmp_path / 'o'}", "device=cpu", "workers=0",
                                          "show_progress=false", "num_parts=1"])
    summary = infer(cfg)
    assert [r["status"] for r in summary.rows] == ["failed", "skipped"]
    assert (tmp_path / "o" / "results.csv").is_file()


CORPUS_PICK = ["orthanc-tests/Issue16.dcm", "dbdicom-rubomedical/0020.DCM", "orthanc-tests/Issue19.dcm",
               "pylibjpeg-data/JPEGLosslessP14SV1_3s_2f_u_08_08.dcm", "orthanc-tests/PrivateTags.dcm"]


@pytest.mark.corpus
def test_batch_on_real_corpus_files_mixed_with_generated_and_broken(corpus_dir: Path, study: Path, analyzer,
                                                                    tmp_path: Path) -> None:
    """Real scanner files beside generated and broken ones: one row each; a file the
    reader accepts as a loop is measured (status ok, never an internal error), one it
    refuses fails with the reader's own error code."""
    from echoquant.errors import EchoquantError
    from echoquant.io import read_cine

    folder = tmp_path / "mixed"
    shutil.copytree(study, folder)
    expected = {name: EXPECTED[name] for name in EXPECTED}
    for rel in CORPUS_PICK:
        dst = folder / rel.replace("/", "__")
        shutil.copy(corpus_dir / rel, dst)
        try:
            read_cine(dst, require_loop=True)
            expected[dst.name] = ("ok", None)
        except EchoquantError as exc:
            expected[dst.name] = ("failed", exc.code)
    summary = run_batch([folder], tmp_path / "out", analyzer, BatchOptions(workers=1))
    got = {Path(r["path"]).name: (r["status"], r["error_code"]) for r in summary.rows}
    assert got == expected
    assert sum(v[0] == "ok" for k, v in got.items() if "__" in k) >= 2  # real loops measured


def test_regenerated_report_keeps_its_notes_block(tmp_path):
    from echoquant._files import NOTES_BLOCK, write_report

    begin, end = NOTES_BLOCK
    path = tmp_path / "report.md"
    write_report(path, f"# T\n\nrun 1\n\n{begin}\n{end}\n\n| a |\n")
    text = path.read_text()
    path.write_text(text.replace(f"{begin}\n{end}", f"{begin}\nwhat the numbers mean\n{end}"))
    write_report(path, f"# T\n\nrun 2\n\n{begin}\n{end}\n\n| b |\n")
    assert path.read_text() == f"# T\n\nrun 2\n\n{begin}\nwhat the numbers mean\n{end}\n\n| b |\n"
    write_report(path, "# T\n\nno block\n")  # a report without the block replaces the file whole
    assert path.read_text() == "# T\n\nno block\n"
