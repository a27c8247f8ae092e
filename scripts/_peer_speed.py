"""Time segmentation networks on the same frames (CPU, or CUDA when present), in
whatever Python runs this file; prints JSON. Used by scripts/benchmark.py, which
runs it both in echoquant's own venv and in a peer venv that has torchvision.

Usage: python scripts/_peer_speed.py --frames frames.npy --models unet,deeplabv3_resnet50 --sizes 112,128
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F


def build(name: str, size: int) -> tuple[torch.nn.Module, int]:
    """A network and its input channel count."""
    if name == "deeplabv3_resnet50":
        # EchoNet-Dynamic's segmentation model: torchvision DeepLabV3, ResNet-50 backbone, RGB input.
        from torchvision.models.segmentation import deeplabv3_resnet50

        return deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=4, aux_loss=False), 3
    from echoquant.segment.networks import build_network

    kwargs = {"image_size": size} if name == "dynunet" else {}
    return build_network(name, **kwargs), 1


def forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    return out["out"] if isinstance(out, dict) else out


def time_model(name: str, frames: np.ndarray, size: int, repeats: int, batch: int, device: str) -> dict:
    net, channels = build(name, size)
    net = net.to(device).eval()
    x = torch.from_numpy(frames[:batch].astype(np.float32) / 255.0)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, channels, 1, 1).to(device)
    times = []
    with torch.no_grad():
        forward(net, x)
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            forward(net, x)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return {"model": name, "size": size, "device": device, "frames_per_s": len(x) / statistics.median(times),
            "parameters_m": sum(p.numel() for p in net.parameters()) / 1e6, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "repeats": repeats, "batch": len(x)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--sizes", default="128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    frames = np.load(args.frames)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out = []
    for name in args.models.split(","):
        for size in map(int, args.sizes.split(",")):
            for dev in devices:
                try:
                    out.append(time_model(name, frames, size, args.repeats, args.batch, dev))
                except ImportError as exc:  # e.g. torchvision missing in this venv
                    out.append({"model": name, "size": size, "device": dev, "error": str(exc)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
