"""The CUDA path, checked end to end on a machine with a GPU (CPU-only machines skip
what needs CUDA and say so):

1. the shipped model on a real loop on CPU and on CUDA: label agreement, LV Dice
   between the two, LVEF from each;
2. inference speed (frames/s) of each network option on CPU and CUDA;
3. the batch runner (`echoquant analyze --device cuda`) on generated loops and the
   real loop, compared with a CPU run;
4. a short training run with ``trainer=gpu`` (mixed precision) through ``train(cfg)``.

Usage: python scripts/gpu_check.py [--dicom FILE] [--out DIR] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def _real_loop(path: str | None) -> str:
    if path:
        return path
    from pydicom.data import get_testdata_file

    return get_testdata_file("color3d_jpeg_baseline.dcm")


def check_predictor(dicom: str) -> list[str]:
    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.segment.predictor import Predictor

    cine = read_cine(dicom)
    out, lv, ef = [], {}, {}
    for dev in ("cpu", "cuda"):
        pred = Predictor(None, device=dev)
        pred.predict(cine)  # warm-up
        t0 = time.perf_counter()
        seg = pred.predict(cine)
        if dev == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        lv[dev] = seg.labels
        ef[dev] = quantify(cine, seg).lvef_pct
        out.append(f"| Predictor.predict, {cine.n_frames} frames {cine.frames.shape[1]}x{cine.frames.shape[2]} | {dev} | "
                   f"{cine.n_frames / dt:.1f} frames/s |")
    agree = float((lv["cpu"] == lv["cuda"]).mean())
    a, b = lv["cpu"] == 1, lv["cuda"] == 1
    dice = 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())
    out.append(f"| CPU vs CUDA labels: pixel agreement {agree:.5f}, LV Dice {dice:.4f}, "
               f"LVEF {ef['cpu']} vs {ef['cuda']} | | |")
    return out


def check_speed() -> list[str]:
    from bench_segment import OPTIONS, bench

    rows = []
    for label, (name, kw) in OPTIONS.items():
        for dev in ("cpu", "cuda"):
            fps, _ = bench(name, kw, 128, dev, repeats=5)
            rows.append(f"| {label}, 128x128, batch 32 | {dev} | {fps:.1f} frames/s |")
    return rows


def check_batch(dicom: str, work: Path) -> list[str]:
    import pandas as pd
    from typer.testing import CliRunner

    from echoquant.cli import app
    from echoquant.synth import generate_case, sample_params, write_case

    data = work / "inputs"
    data.mkdir(parents=True, exist_ok=True)
    for k in range(3):
        write_case(generate_case(sample_params("human", 500 + k, canvas=(240, 320))), data, f"gen{k}")
    (data / "real.dcm").write_bytes(Path(dicom).read_bytes())
    runner, frames, times = CliRunner(), {}, {}
    for dev in ("cpu", "cuda"):
        t0 = time.perf_counter()
        res = runner.invoke(app, ["analyze", str(data), "-o", str(work / dev), "--device", dev, "--allow-failures"])
        times[dev] = time.perf_counter() - t0
        if res.exit_code != 0:
            return [f"| analyze --device {dev} | FAILED | exit {res.exit_code}: {res.output[-500:]} |"]
        frames[dev] = pd.read_csv(work / dev / "results.csv").sort_values("path").reset_index(drop=True)
    cols = ["lvef_pct", "edv_ml", "esv_ml", "gls_pct"]
    ok = (frames["cpu"]["status"] == "ok").to_numpy()
    if not ok.any():
        failed = frames["cpu"][frames["cpu"]["status"] == "failed"]
        why = "; ".join(sorted(set(failed["error"].astype(str).str[:120]))) or "no loops among the inputs"
        return [f"| echoquant analyze | FAILED | no loop analysed on CPU: {why} |"]
    diff = (frames["cpu"][cols] - frames["cuda"][cols]).abs()[ok].max()
    rows = [f"| echoquant analyze, {int(ok.sum())} loops ok of {len(ok)} files | {dev} | {times[dev]:.1f} s |"
            for dev in ("cpu", "cuda")]
    rows.append("| CPU vs CUDA results.csv: statuses "
                f"{'equal' if (frames['cpu']['status'] == frames['cuda']['status']).all() else 'DIFFER'}; largest |difference| "
                + ", ".join(f"{c} {diff[c]:.3g}" for c in cols) + " | | |")
    for dev in ("cpu", "cuda"):
        frames[dev].to_csv(work.parent / f"results_{dev}.csv", index=False)
    return rows


def check_training(work: Path) -> list[str]:
    from hydra import compose, initialize_config_dir

    from echoquant.train import train

    cfg_dir = str(Path(__file__).resolve().parents[1] / "configs")
    with initialize_config_dir(config_dir=cfg_dir, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=smoke", "trainer=gpu", "trainer.max_steps=20",
                                          f"paths.output_dir={work}/train", f"paths.cache_dir={work}/cache",
                                          f"export_dir={work}/bundle"])
    t0 = time.perf_counter()
    metrics = train(cfg)
    return [f"| train(cfg) experiment=smoke trainer=gpu (16-mixed), 20 steps | cuda | {time.perf_counter() - t0:.1f} s; "
            f"val dice {metrics.get('val/dice_mean', float('nan')):.3f} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dicom", default=None, help="real loop (default: pydicom-data's color3d_jpeg_baseline.dcm)")
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu_check"))
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check here (this script is for a machine with a GPU)")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    dicom = _real_loop(args.dicom)
    head = [f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; "
            "command: `python scripts/gpu_check.py`", "", "| check | device | result |", "|---|---|---|"]
    rows: list[str] = []
    checks = {"predictor": lambda: check_predictor(dicom), "speed": check_speed,
              "batch": lambda: check_batch(dicom, args.out / "batch"), "training": lambda: check_training(args.out)}
    for name, step in checks.items():
        try:
            rows += step()
        except Exception as exc:  # noqa: BLE001 - report every check, even after one fails
            rows.append(f"| {name} | FAILED | {type(exc).__name__}: {exc} |")
        print("\n".join(rows[-4:]), flush=True)
    text = "\n".join(head + rows)
    print(text)
    if args.markdown:
        args.markdown.write_text("# CUDA path check\n\n" + text + "\n")
    (args.out / "gpu_check.json").write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
