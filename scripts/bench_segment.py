"""Inference speed (frames/s) of each network option on this machine's CPU (and CUDA
when present), at the network input size, batch of 32 frames, median of repeats; and
of the shipped model through the ``Predictor`` (crop, resize, equalisation, network,
mapping back to the cine grid; decoding excluded) on a real 120-frame loop.

Usage: python scripts/bench_segment.py [--size 160] [--repeats 5] [--markdown docs/bench_segment.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from _report import emit  # scripts/ is on sys.path when run as a script

import torch

from echoquant.segment.networks import build_network

OPTIONS = {
    "unet (default)": ("unet", {}),
    "dynunet (nnU-Net 2D plan)": ("dynunet", {"image_size": None}),
    "segresnet": ("segresnet", {}),
}


def bench(name: str, kwargs: dict, size: int, device: str, repeats: int, batch: int = 32) -> tuple[float, int]:
    kwargs = {k: (size if v is None else v) for k, v in kwargs.items()}
    net = build_network(name, **kwargs).to(device).eval()
    x = torch.rand(batch, 1, size, size, device=device)
    times = []
    with torch.no_grad():
        net(x)
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            net(x)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times), sum(p.numel() for p in net.parameters())


def bench_predictor(device: str, repeats: int, batch: int = 32) -> tuple[float, str, int, int]:
    """Frames/s of ``Predictor.predict`` with the shipped model on pydicom-data's real
    120-frame 480x640 loop (decoded once, before timing)."""
    from pydicom.data import get_testdata_file

    from echoquant.io import read_cine
    from echoquant.segment.predictor import Predictor

    cine = read_cine(get_testdata_file("color3d_jpeg_baseline.dcm"))
    predictor = Predictor(None, device=device, batch_size=batch)
    predictor.predict(cine)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.predict(cine)
        times.append(time.perf_counter() - t0)
    return cine.n_frames / statistics.median(times), predictor.name, predictor.bundle.image_size, cine.n_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = ["| network | parameters | device | frames/s |", "|---|---|---|---|"]
    for label, (name, kw) in OPTIONS.items():
        for dev in devices:
            fps, n = bench(name, kw, args.size, dev, args.repeats)
            lines.append(f"| {label} | {n / 1e6:.2f} M | {dev} | {fps:.1f} |")
    lines += ["", "| shipped model through the Predictor | input | device | frames/s |", "|---|---|---|---|"]
    for dev in devices:
        fps, name, size, n_frames = bench_predictor(dev, args.repeats)
        lines.append(f"| `{name}` on a real {n_frames}-frame 480x640 loop, batch 32 | {size}x{size} | {dev} | {fps:.1f} |")
    head = (f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads); input {args.size}x{args.size}, batch 32; command: "
            f"`python scripts/bench_segment.py --size {args.size} --repeats {args.repeats}`.\n")
    emit("Segmentation inference speed", head, lines, args.markdown)


if __name__ == "__main__":
    main()
