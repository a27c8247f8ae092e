"""Generation speed of echoquant.synth (frames/s, and clips/min) on this machine.

Usage: python scripts/bench_synth.py [--n 8] [--workers 2] [--preset human] [--markdown docs/bench_synth.md]
Writes DICOM + labels like `echoquant synth` does, so the figure includes encoding.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

from _report import emit  # scripts/ is on sys.path when run as a script

from echoquant.synth import write_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=["human", "rodent"])
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    lines = ["| preset | clips | frames | seconds | frames/s | clips/min |", "|---|---|---|---|---|---|"]
    for preset in args.presets:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            truth = write_suite(tmp, args.n, seed=99, preset=preset, compression="mixed", workers=args.workers)
            sec = time.perf_counter() - start
            frames = sum(int(r["n_frames"]) for r in csv.DictReader(truth.open()))
        lines.append(f"| {preset} | {args.n} | {frames} | {sec:.1f} | {frames / sec:.1f} | {60 * args.n / sec:.1f} |")
    head = (f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}; command: `python scripts/bench_synth.py --n {args.n} --workers {args.workers} "
            f"--presets {' '.join(args.presets)}`; full-size clips (default canvas and speckle density), "
            "DICOM + labels written.\n")
    emit("Synthetic generator speed", head, lines, args.markdown)


if __name__ == "__main__":
    main()
