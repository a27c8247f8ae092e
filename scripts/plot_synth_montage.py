"""Montage of generated ED/ES frames (human and rodent) beside frames of the real
apical 4-chamber loops shipped with pydicom and pydicom-data.

Usage: python scripts/plot_synth_montage.py -o docs/synth_montage.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echoquant.io import read_cine  # noqa: E402
from echoquant.synth import generate_case, sample_params  # noqa: E402

CASES = [("human_a4c", 21, "normal"), ("human_a2c", 22, "infarct"), ("mouse", 23, "infarct"), ("rat", 24, "normal")]


def _real_frames() -> list[tuple[str, np.ndarray]]:
    from pydicom import examples
    from pydicom.data import get_testdata_file

    out = []
    for name, path in (("real: color3d_jpeg_baseline", get_testdata_file("color3d_jpeg_baseline.dcm")),
                       ("real: pydicom ybr_color", str(examples.get_path("ybr_color")))):
        cine = read_cine(path)
        # Crude ED/ES from the dark area inside the sector (the real loops carry no labels).
        dark = [(f[cine.fan_mask] < 30).mean() for f in cine.frames]
        out.append((f"{name} (frame {int(np.argmax(dark))})", cine.frames[int(np.argmax(dark))]))
        out.append((f"{name} (frame {int(np.argmin(dark))})", cine.frames[int(np.argmin(dark))]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default="docs/synth_montage.png")
    args = parser.parse_args()
    panels = []
    for preset, seed, pathology in CASES:
        case = generate_case(sample_params(preset, seed, pathology=pathology))
        p = case.params
        for tag in ("ed", "es"):
            i = case.truth[f"{tag}_frame"]
            panels.append((f"synthetic {p.species} {p.view} {pathology} {tag.upper()}\n"
                           f"LVEF {case.truth['lvef_pct']:.0f}%  GLS {case.truth['gls_pct']:.0f}%", case.frames[i]))
    panels += _real_frames()
    cols = 4
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img) in zip(axes.ravel(), panels):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
