"""Decode speed and peak memory of echoquant.io.read_cine against the floor,
plain ``pydicom.dcmread(path).pixel_array``.

Each measurement runs in a fresh subprocess so that peak RSS (ru_maxrss) belongs to
that reader alone. Reports the median of ``--repeats`` runs.

Usage:
    python scripts/bench_io.py [FILE] [--repeats 5] [--markdown docs/bench_io.md]
Without FILE, pydicom-data's color3d_jpeg_baseline.dcm (120 frames, 480x640, JPEG) is used.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
path, which = sys.argv[1], sys.argv[2]
import numpy as np, pydicom
from echoquant.io import read_cine
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if which == "pydicom":
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    n = int(ds.get("NumberOfFrames", 1) or 1)
else:
    cine = read_cine(path)
    n = cine.n_frames
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "frames": int(n), "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024}))
"""


def _run(path: str, which: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, path, which], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="also write a markdown table here")
    args = parser.parse_args()
    path = args.file
    if path is None:
        from pydicom.data import get_testdata_file

        path = get_testdata_file("color3d_jpeg_baseline.dcm")
    rows = []
    for which, label in (("pydicom", "pydicom dcmread().pixel_array (RGB, floor)"),
                         ("echoquant", "echoquant.io.read_cine (grey + fan + tags)")):
        runs = [_run(path, which) for _ in range(args.repeats)]
        sec = statistics.median(r["seconds"] for r in runs)
        frames = runs[0]["frames"]
        rows.append({
            "reader": label,
            "frames": frames,
            "seconds": sec,
            "fps": frames / sec,
            "peak_mb": statistics.median(r["peak_mb"] for r in runs),
            "added_mb": statistics.median(r["added_mb"] for r in runs),
        })
    header = "| reader | frames | median s | frames/s | peak RSS MB | RSS added by read MB |\n|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['reader']} | {r['frames']} | {r['seconds']:.3f} | {r['fps']:.0f} | {r['peak_mb']:.0f} | {r['added_mb']:.0f} |\n"
        for r in rows
    )
    cmd = "python scripts/bench_io.py" + (f" {args.file}" if args.file else "") + f" --repeats {args.repeats}"
    text = (
        f"File: `{Path(path).name}`; machine: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; command: `{cmd}`; "
        f"median of {args.repeats} fresh processes.\n\n" + header + body
    )
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("# Reader benchmark\n\n" + text)


if __name__ == "__main__":
    main()
