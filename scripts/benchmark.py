"""Accuracy and speed in one command, with EchoNet-Dynamic's and nnU-Net's networks
timed on the same frames in the same run.

    python scripts/benchmark.py --quick          # a few minutes
    python scripts/benchmark.py                  # full: 30 clips per preset, 1,000-clip memory run

1. Accuracy on a freshly generated held-out suite (seeds from 9,000,000, never used
   in training; human and rodent presets; uncompressed and JPEG): LVEF MAE, bias and
   limits of agreement; tracking and contour GLS MAE; EDV/ESV MAE; LV Dice at ED
   and ES; ED/ES frame error; share of clips withheld by QC. Measured through
   ``echoquant analyze`` (the batch runner), as users run it.
2. Speed: where the time of one loop goes (``scripts/profile_stages.py``); end-to-end
   clips/min and frames/s of ``echoquant analyze`` over the same suites with tracking
   on and off (median of repeated runs, each in a fresh process, with its peak
   memory); decode frames/s; segmentation frames/s per network; resident memory over
   a 1,000-clip batch with tracking on (must stay flat).
3. Peers: torchvision's ``deeplabv3_resnet50`` (EchoNet-Dynamic's model) at 112x112
   and 128x128, and DynUNet planned like nnU-Net, on the same frames. torchvision
   cannot be imported beside the CPU torch 2.13 build (operator torchvision::nms
   missing), so peers run in a second venv (``.venv-peers``: torch 2.14.1 +
   torchvision 0.29.1 from this machine's wheel cache); our networks are timed in
   both venvs so that the ratios compare like with like.

Writes ``docs/benchmarks.md`` (``--markdown``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

import echoquant  # noqa: E402
from echoquant import Analyzer  # noqa: E402
from echoquant.batch import BatchOptions, run_batch  # noqa: E402
from echoquant.io import read_cine  # noqa: E402
from echoquant.synth import write_suite  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profile_stages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT_SEED = 9_000_000
PEER_VENV = ROOT / ".venv-peers"
OUR_NETS = ["unet", "dynunet", "segresnet"]


# ------------------------------------------------------------------ accuracy


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def held_out_suite(suite: Path, preset: str, n: int) -> pd.DataFrame:
    """Write the ``n``-clip held-out suite of ``preset`` into ``suite``; returns its truth table.
    Other scripts (``compare_trackers.py``) measure on the same loops through this."""
    return pd.read_csv(write_suite(suite, n, seed=HELD_OUT_SEED + (0 if preset == "human" else 500_000),
                                   preset=preset, compression="mixed", workers=2))


def accuracy(folder: Path, preset: str, n: int, analyzer: Analyzer) -> tuple[pd.DataFrame, dict]:
    """Generate ``n`` held-out clips, analyse them through the batch runner, join truth."""
    suite = folder / preset
    truth = held_out_suite(suite, preset, n)
    files = [suite / f for f in truth["file"]]
    start = time.perf_counter()
    summary = run_batch(files, folder / f"out_{preset}", analyzer, BatchOptions(workers=1))
    elapsed = time.perf_counter() - start
    res = pd.DataFrame(summary.rows)
    res["file"] = res["path"].map(lambda p: Path(p).name)
    m = res.merge(truth, on="file", suffixes=("", "_true"))
    dice_ed, dice_es = [], []
    for _, r in m.iterrows():
        labels = np.load(suite / r["labels"])["labels"]
        seg = analyzer.predictor.predict(read_cine(suite / r["file"]))
        dice_ed.append(_dice(seg.labels[r["ed_frame"]] == 1, labels[r["ed_frame"]] == 1))
        dice_es.append(_dice(seg.labels[r["es_frame"]] == 1, labels[r["es_frame"]] == 1))
    m["dice_lv_ed"], m["dice_lv_es"] = dice_ed, dice_es
    m["ed_error_frames"] = [_nearest(r["ed_frames"], r["ed_frame"]) for _, r in m.iterrows()]
    m["es_error_frames"] = [_nearest(r["es_frames"], r["es_frame"]) for _, r in m.iterrows()]
    frames = int(truth["n_frames"].sum())
    return m, {"clips_per_min": 60 * len(files) / elapsed, "frames_per_s": frames / elapsed, "clips": len(files)}


def _nearest(measured: object, true: int) -> float:
    values = [int(float(v)) for v in str(measured).split(";") if v not in ("", "nan", "None")]
    return float(min(abs(v - true) for v in values)) if values else float("nan")


def _err(m: pd.DataFrame, col: str, true_col: str) -> dict:
    ok = m[[col, true_col]].apply(pd.to_numeric, errors="coerce").dropna()
    e = ok[col] - ok[true_col]
    if not len(e):
        return {"n": 0, "mae": float("nan"), "bias": float("nan"), "loa": float("nan")}
    return {"n": len(e), "mae": float(e.abs().mean()), "bias": float(e.mean()),
            "loa": float(1.96 * e.std(ddof=1)) if len(e) > 1 else float("nan")}


def accuracy_rows(m: pd.DataFrame, preset: str) -> list[str]:
    lv, gls = _err(m, "lvef_pct", "lvef_pct_true"), _err(m, "gls_pct", "gls_pct_true")
    glsc = _err(m, "gls_contour_pct", "gls_pct_true")
    edv, esv = _err(m, "edv_ml", "edv_ml_true"), _err(m, "esv_ml", "esv_ml_true")
    withheld = 100 * float((~m["qc_pass"].astype(bool)).mean())
    unit = "mL"
    return [f"| {preset} | {len(m)} | {lv['mae']:.2f} | {lv['bias']:+.2f} ± {lv['loa']:.2f} | {gls['mae']:.2f} "
            f"(n={gls['n']}) | {glsc['mae']:.2f} | {edv['mae']:.3g} / {esv['mae']:.3g} {unit} | "
            f"{np.nanmean(m['dice_lv_ed']):.3f} / {np.nanmean(m['dice_lv_es']):.3f} | "
            f"{np.nanmedian(m['ed_error_frames']):.0f} / {np.nanmedian(m['es_error_frames']):.0f} | {withheld:.0f}% |"]


# ------------------------------------------------------------------ speed


def decode_speed(files: list[Path], repeats: int) -> float:
    times, frames = [], 0
    for _ in range(repeats):
        t0, frames = time.perf_counter(), 0
        for f in files:
            frames += read_cine(f).n_frames
        times.append(time.perf_counter() - t0)
    return frames / statistics.median(times)


def ensure_peer_venv() -> Path | None:
    """``.venv-peers`` with torch 2.14.1 + torchvision 0.29.1 (+ monai and echoquant
    without dependencies); None when it cannot be made."""
    py = PEER_VENV / "bin" / "python"
    if py.is_file():
        return py
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "torch==2.14.1", "torchvision==0.29.1", "numpy"], check=True)
        subprocess.run([*pip, "--no-deps", "monai", "-e", str(ROOT)], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"peer venv could not be made ({exc}); peers are left out", file=sys.stderr)
        return None
    return py


def time_networks(python: str, frames_npy: Path, models: list[str], sizes: str, repeats: int) -> list[dict]:
    out = subprocess.run([python, str(ROOT / "scripts" / "_peer_speed.py"), "--frames", str(frames_npy), "--models",
                          ",".join(models), "--sizes", sizes, "--repeats", str(repeats)],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS":
                                                                          str(torch.get_num_threads())})
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ report


def speed_runs(suite: Path, preset: str, tracking: bool, repeats: int) -> dict:
    """``echoquant analyze`` over a suite folder in a fresh process per run (so that its
    peak memory is the run's own), ``repeats`` times; the median run and the range."""
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, str(ROOT / "scripts" / "bench_batch.py"), "--folder", str(suite), "--preset", preset,
               "--json"]
        out = subprocess.run(cmd + ([] if tracking else ["--no-tracking"]), capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    fps = [r["frames_per_s"] for r in runs]
    mid = runs[int(np.argsort(fps)[len(fps) // 2])]
    return {**mid, "fps_min": min(fps), "fps_max": max(fps), "runs": len(runs),
            "peak_rss_main_mb": max(r["peak_rss_main_mb"] for r in runs),
            "peak_rss_worker_mb": max(r["peak_rss_worker_mb"] for r in runs)}


def speed_rows(speed: dict[tuple[str, bool], dict]) -> list[str]:
    lines = ["| clips | tracking | clips/min | frames/s (median) | frames/s (range over runs) | peak RSS main / "
             "decoding worker |", "|---|---|---|---|---|---|"]
    for (preset, tracking), m in speed.items():
        lines.append(f"| {preset}: {m['clips']} clips, {m['frames']} frames | {'on' if tracking else 'off'} | "
                     f"{m['clips_per_min']:.1f} | {m['frames_per_s']:.1f} | {m['fps_min']:.1f}-{m['fps_max']:.1f} "
                     f"({m['runs']} runs) | {m['peak_rss_main_mb']:.0f} / {m['peak_rss_worker_mb']:.0f} MB |")
    return lines


def network_rows(ours: list[dict], peers: list[dict]) -> list[str]:
    lines = ["| network | venv (torch) | input | parameters | frames/s | vs our UNet (same venv, same input) |",
             "|---|---|---|---|---|---|"]
    labels = {"deeplabv3_resnet50": "DeepLabV3-ResNet50 (EchoNet-Dynamic, torchvision)",
              "dynunet": "DynUNet (nnU-Net 2D plan)", "unet": "UNet (echoquant default)", "segresnet": "SegResNet"}
    for group in (ours, peers):
        base = {(r["device"], r["size"]): r["frames_per_s"] for r in group if r.get("model") == "unet" and "error" not in r}
        for r in group:
            if "error" in r:
                lines.append(f"| {r['model']} | | {r['size']} | | {r['error']} | |")
                continue
            ratio = r["frames_per_s"] / base.get((r["device"], r["size"]), float("nan"))
            lines.append(f"| {labels[r['model']]} | torch {r['torch']} {r['device']} | {r['size']}² | "
                         f"{r['parameters_m']:.1f} M | {r['frames_per_s']:.1f} | {ratio:.2f}× |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small suite and batch (a few minutes)")
    parser.add_argument("--n", type=int, default=None, help="held-out clips per preset (quick 4, full 30)")
    parser.add_argument("--batch", type=int, default=None, help="clips in the memory run (quick 40, full 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="speed repeats, median (quick 1, full 3)")
    parser.add_argument("--no-peers", action="store_true", help="time our networks only (no second venv)")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    n = args.n or (4 if args.quick else 30)
    batch_n = args.batch or (40 if args.quick else 1000)
    repeats = args.repeats or (1 if args.quick else 3)
    cmd = "python scripts/benchmark.py " + " ".join(sys.argv[1:])
    t_start = time.perf_counter()
    analyzer = Analyzer(device="auto")
    tmp = Path(tempfile.mkdtemp(prefix="eq_benchmark_"))
    try:
        acc_lines = []
        for preset in ("human", "rodent"):
            m, _ = accuracy(tmp, preset, n, analyzer)
            acc_lines += accuracy_rows(m, preset)
        profile = [profile_stages.profile(p, 4, 424242, analyzer) for p in ("human", "rodent")]
        speed = {(p, tr): speed_runs(tmp / p, p, tr, repeats) for p in ("human", "rodent") for tr in (True, False)}
        files = sorted((tmp / "human").glob("*.dcm"))[:4] + sorted((tmp / "rodent").glob("*.dcm"))[:4]
        decode_fps = decode_speed(files, repeats)
        # the same 64 real-size frames for every network (each resizes to its own input)
        frames = np.stack([cv2.resize(fr, (320, 240), interpolation=cv2.INTER_AREA)
                           for f in files[:4] for fr in read_cine(f).frames[:16]])
        np.save(tmp / "frames.npy", frames)
        size = str(analyzer.predictor.bundle.image_size)
        ours = time_networks(sys.executable, tmp / "frames.npy", OUR_NETS, size, repeats)
        py = None if args.no_peers else ensure_peer_venv()
        peers = [] if py is None else time_networks(str(py), tmp / "frames.npy", OUR_NETS + ["deeplabv3_resnet50"],
                                                    f"112,128,{size}", repeats)
        # in its own process, so that its peak-memory counters are the batch's alone
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_batch.py"), "--n", str(batch_n),
                              "--unique", "10", "--preset", "human", "--canvas", "240x320", "--short", "--json"],
                             capture_output=True, text=True, check=True)
        mem = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    device = f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    lines = [f"Date {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"{device}; Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} "
             f"threads), echoquant {echoquant.__version__}, model `{analyzer.model_name}` "
             f"({size}x{size} input). Command: `{cmd}` (total {(time.perf_counter() - t_start) / 60:.1f} min).", "",
             "## Accuracy on a held-out synthetic suite", "",
             f"{n} clips per preset, seeds from {HELD_OUT_SEED:,} (never used in training), half JPEG; measured "
             "through the batch runner with the shipped model. Synthetic data only: these are not numbers on "
             "patients (see the model card).", "",
             "| preset | clips | LVEF MAE (%) | LVEF bias ± 1.96 SD | tracking GLS MAE (%) | contour GLS MAE (%) | "
             "EDV / ESV MAE | LV Dice ED / ES | ED / ES frame error (median) | withheld by QC |",
             "|---|---|---|---|---|---|---|---|---|---|", *acc_lines, "",
             "## Where the time goes", "",
             "Milliseconds per frame (share) of one scored loop, stage by stage, on 4 generated loops per preset "
             "(`scripts/profile_stages.py`; tracking is the difference between measuring with and without it).", "",
             *profile_stages.markdown(profile), "",
             "## End to end through `echoquant analyze`", "",
             f"The held-out suites above, one decoding process beside the analysing one, each run in a fresh "
             f"process (model load included); decode alone: {decode_fps:.0f} frames/s.", "",
             *speed_rows(speed), "",
             "## Memory over a long batch", "",
             f"{mem['clips']} clips (human 240x320, ~1.7 beats at 30 frames/s, tracking on, {mem['frames']} frames): "
             f"{mem['clips_per_min']:.0f} clips/min, {mem['frames_per_s']:.0f} frames/s; main-process RSS median over "
             f"the first 10% of clips {mem['rss_first_mb']:.0f} MB, over the last 10% {mem['rss_last_mb']:.0f} MB, "
             f"max {mem['rss_max_mb']:.0f} MB (peak {mem['peak_rss_main_mb']:.0f} MB); decoding worker peak "
             f"{mem['peak_rss_worker_mb']:.0f} MB.", "",
             "## Networks on the same frames (batch 32)", "",
             *network_rows(ours, peers), ""]
    if py is None:
        lines.append("Peers (DeepLabV3-ResNet50 of EchoNet-Dynamic, DynUNet planned like nnU-Net) were not timed in "
                     "this run (`--no-peers`); their last table is in `docs/bench_segment.md`.")
    text = "# Benchmarks\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
