"""Draw the fan mask estimated by read_cine over a frame of a loop (PNG for docs/).

Usage: python scripts/plot_fan_mask.py [FILE ...] -o docs/fan_mask.png
Without files, uses pydicom-data's color3d_jpeg_baseline.dcm and pydicom's ybr_color.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echoquant.io import read_cine  # noqa: E402


def _default_files() -> list[str]:
    from pydicom import examples
    from pydicom.data import get_testdata_file

    return [get_testdata_file("color3d_jpeg_baseline.dcm"), str(examples.get_path("ybr_color"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*")
    parser.add_argument("-o", "--output", default="docs/fan_mask.png")
    args = parser.parse_args()
    files = args.files or _default_files()
    fig, axes = plt.subplots(1, len(files), figsize=(6 * len(files), 4.8), squeeze=False)
    for ax, f in zip(axes[0], files):
        cine = read_cine(f)
        frame = cine.frames[len(cine.frames) // 2].astype(np.float32) / 255.0
        rgb = np.stack([frame] * 3, axis=-1)
        outside = ~cine.fan_mask
        rgb[outside] = 0.35 * rgb[outside] + 0.65 * np.array([0.8, 0.1, 0.1])
        ax.imshow(rgb)
        ax.contour(cine.fan_mask, levels=[0.5], colors="yellow", linewidths=1)
        if cine.sector_box is not None:
            b = cine.sector_box
            ax.add_patch(plt.Rectangle((b.col_start, b.row_start), b.col_stop - b.col_start,
                                       b.row_stop - b.row_start, fill=False, ec="cyan", lw=1, ls="--"))
        sp = "untrusted/missing" if cine.spacing_mm is None else f"{cine.spacing_mm[0]:.4f} mm"
        ax.set_title(f"{Path(f).name}\n{cine.n_frames} frames, {cine.fps:.1f} fps, spacing {sp}", fontsize=9)
        ax.axis("off")
    fig.suptitle("echoquant fan mask (yellow; red = excluded; cyan dashed = header region box)", fontsize=10)
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
