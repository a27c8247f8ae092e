"""Throughput and memory of `echoquant analyze` over a large generated batch.

Generates ``--unique`` synthetic loops and lays out ``--n`` clips as copies of them
(distinct paths, so every clip is analysed), runs the batch in this process and
samples its resident memory after every clip: the batch must not grow with its
length.

Usage: python scripts/bench_batch.py [--n 200] [--unique 20] [--preset mouse] [--no-tracking]
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

from echoquant import Analyzer, __version__  # noqa: E402
from echoquant.batch import BatchOptions, run_batch  # noqa: E402
from echoquant.synth import write_suite  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--unique", type=int, default=20)
    parser.add_argument("--preset", default="mouse")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eq_bench_batch_"))
    try:
        truth = write_suite(tmp / "gen", args.unique, seed=777, preset=args.preset, compression="jpeg", workers=2)
        sources = sorted((tmp / "gen").glob("*.dcm"))
        import csv

        frames_of = {r["file"]: int(r["n_frames"]) for r in csv.DictReader(truth.open())}
        study = tmp / "study"
        study.mkdir()
        total_frames = 0
        for k in range(args.n):
            src = sources[k % len(sources)]
            shutil.copy(src, study / f"clip{k:05d}.dcm")
            total_frames += frames_of[src.name]
        analyzer = Analyzer(device="auto", track=not args.no_tracking)
        rss = []
        start = time.perf_counter()
        summary = run_batch([study], tmp / "out", analyzer, BatchOptions(workers=args.workers, flush_every=50),
                            on_clip=lambda row: rss.append(rss_mb()))
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rss = np.array(rss)
    tenth = max(1, len(rss) // 10)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = [
        ("clips", f"{args.n} ({args.unique} unique {args.preset} loops, JPEG)"),
        ("frames", f"{total_frames}"),
        ("ok / failed", f"{summary.count('ok')} / {summary.n_failed}"),
        ("tracking", "off" if args.no_tracking else "on"),
        ("wall time", f"{elapsed:.1f} s"),
        ("clips/min", f"{60 * args.n / elapsed:.1f}"),
        ("frames/s (end to end)", f"{total_frames / elapsed:.1f}"),
        ("RSS after first 10% of clips (median)", f"{np.median(rss[:tenth]):.0f} MB"),
        ("RSS over last 10% of clips (median)", f"{np.median(rss[-tenth:]):.0f} MB"),
        ("peak RSS, main process", f"{peak_self:.0f} MB"),
        ("peak RSS, largest decoding worker", f"{peak_children:.0f} MB"),
    ]
    head = (f"`python scripts/bench_batch.py {' '.join(sys.argv[1:])}`: {os.cpu_count()} CPU cores "
            f"({platform.processor() or platform.machine()}), torch {torch.__version__} "
            f"({'CUDA' if torch.cuda.is_available() else 'CPU'}), {torch.get_num_threads()} threads, "
            f"echoquant {__version__}, {time.strftime('%Y-%m-%d')}.")
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    emit("Batch analysis benchmark", head, lines, args.markdown)


if __name__ == "__main__":
    main()
