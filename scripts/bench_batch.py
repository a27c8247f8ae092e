"""Throughput and memory of `echoquant analyze` over a large generated batch.

Generates ``--unique`` synthetic loops and lays out ``--n`` clips as copies of them
(distinct paths, so every clip is analysed), runs the batch in this process and
samples its resident memory after every clip: the batch must not grow with its
length.

Usage: python scripts/bench_batch.py [--n 200] [--unique 20] [--preset mouse] [--no-tracking]
       python scripts/bench_batch.py --folder DIR [--no-tracking] --json
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

from echoquant import Analyzer, __version__  # noqa: E402
from echoquant.batch import BatchOptions, run_batch  # noqa: E402
from echoquant.synth import generate_case, sample_params  # noqa: E402
from echoquant.synth.write import write_case  # noqa: E402


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process in MB (``VmHWM``: its peak). Read from /proc, not
    ``getrusage``: its peak survives ``exec`` and would be the parent's when a large
    process started this one."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _layout(tmp: Path, n: int, unique: int, preset: str, canvas: tuple[int, int] | None, short: bool) -> int:
    """``n`` clips in ``tmp/study``, copies of ``unique`` generated loops; returns their frame count."""
    gen = tmp / "gen"
    overrides = {} if canvas is None else {"canvas": canvas}
    if short:  # ~1.7 beats at 30 frames/s: many clips in little time, for the memory run
        overrides.update(n_beats=1.7, fps=30.0)
    rows = [write_case(generate_case(sample_params(preset, 777 + k, **overrides)), gen, f"u{k:03d}",
                       compression="jpeg") for k in range(unique)]
    study = tmp / "study"
    study.mkdir()
    total_frames = 0
    for k in range(n):
        src = rows[k % unique]
        shutil.copy(gen / src["file"], study / f"clip{k:05d}.dcm")
        total_frames += int(src["n_frames"])
    return total_frames


def run(n: int, unique: int, preset: str = "mouse", workers: int = 1, tracking: bool = True,
        canvas: tuple[int, int] | None = None, short: bool = False, folder: Path | None = None) -> dict:
    """Analyse ``n`` clips (copies of ``unique`` generated loops), or every DICOM file of
    ``folder``; returns the measures."""
    tmp = Path(tempfile.mkdtemp(prefix="eq_bench_batch_"))
    try:
        if folder is None:
            total_frames = _layout(tmp, n, unique, preset, canvas, short)
            inputs = [tmp / "study"]
        else:
            inputs = sorted(Path(folder).glob("*.dcm"))
            total_frames = sum(int(pydicom.dcmread(f, stop_before_pixels=True).NumberOfFrames) for f in inputs)
            n, unique = len(inputs), len(inputs)
        analyzer = Analyzer(device="auto", track=tracking)
        rss: list[float] = []
        start = time.perf_counter()
        summary = run_batch(inputs, tmp / "out", analyzer, BatchOptions(workers=workers, flush_every=50),
                            on_clip=lambda row: rss.append(rss_mb()))
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r = np.array(rss)
    tenth = max(1, len(r) // 10)
    return {
        "clips": n, "unique": unique, "preset": preset, "frames": total_frames, "ok": summary.count("ok"),
        "failed": summary.n_failed, "tracking": tracking, "wall_s": elapsed, "clips_per_min": 60 * n / elapsed,
        "frames_per_s": total_frames / elapsed, "rss_first_mb": float(np.median(r[:tenth])),
        "rss_last_mb": float(np.median(r[-tenth:])), "rss_max_mb": float(r.max()),
        "peak_rss_main_mb": rss_mb("VmHWM"),
        "peak_rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--unique", type=int, default=20)
    parser.add_argument("--preset", default="mouse")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument("--canvas", type=str, default=None, help="ROWSxCOLS of the generated loops, e.g. 240x320")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--short", action="store_true", help="short loops (1.7 beats at 30 frames/s)")
    parser.add_argument("--json", action="store_true", help="print the measures as one JSON line only")
    parser.add_argument("--folder", type=Path, default=None,
                        help="analyse the DICOM files of this folder instead of generated copies")
    args = parser.parse_args()
    canvas = None if args.canvas is None else tuple(int(v) for v in args.canvas.split("x"))
    m = run(args.n, args.unique, args.preset, args.workers, not args.no_tracking, canvas, args.short, args.folder)
    if args.json:
        import json

        print(json.dumps(m))
        return
    rows = [
        ("clips", f"{m['clips']} ({m['unique']} unique {m['preset']} loops, JPEG, canvas {args.canvas or 'preset'})"),
        ("frames", f"{m['frames']}"),
        ("ok / failed", f"{m['ok']} / {m['failed']}"),
        ("tracking", "on" if m["tracking"] else "off"),
        ("wall time", f"{m['wall_s']:.1f} s"),
        ("clips/min", f"{m['clips_per_min']:.1f}"),
        ("frames/s (end to end)", f"{m['frames_per_s']:.1f}"),
        ("RSS over first 10% of clips (median)", f"{m['rss_first_mb']:.0f} MB"),
        ("RSS over last 10% of clips (median)", f"{m['rss_last_mb']:.0f} MB"),
        ("peak RSS, main process", f"{m['peak_rss_main_mb']:.0f} MB"),
        ("peak RSS, largest decoding worker", f"{m['peak_rss_worker_mb']:.0f} MB"),
    ]
    head = (f"`python scripts/bench_batch.py {' '.join(sys.argv[1:])}`: {os.cpu_count()} CPU cores "
            f"({platform.processor() or platform.machine()}), torch {torch.__version__} "
            f"({'CUDA' if torch.cuda.is_available() else 'CPU'}), {torch.get_num_threads()} threads, "
            f"echoquant {__version__}, {time.strftime('%Y-%m-%d')}.")
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    emit("Batch analysis benchmark", head, lines, args.markdown)


if __name__ == "__main__":
    main()
