"""Draw the default model's LV contour on every frame of the real apical 4-chamber
loops (pydicom's ybr_color, pydicom-data's color3d_jpeg_baseline): a GIF per loop and
a PNG strip of frames with the LV volume (or area) curve.

Usage: python scripts/plot_real_overlays.py [--model DIR] [-o docs/]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echoquant.export.overlays import draw_labels as overlay  # noqa: E402
from echoquant.io import read_cine  # noqa: E402
from echoquant.quant import quantify  # noqa: E402
from echoquant.segment.predictor import Predictor  # noqa: E402

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs"))
    args = parser.parse_args()
    import imageio.v3 as iio
    from pydicom import examples
    from pydicom.data import get_testdata_file

    predictor = Predictor(args.model, device="auto")
    args.output.mkdir(parents=True, exist_ok=True)
    for name, path in (("color3d_jpeg_baseline", get_testdata_file("color3d_jpeg_baseline.dcm")),
                       ("ybr_color", str(examples.get_path("ybr_color")))):
        cine = read_cine(path)
        seg = predictor.predict(cine)
        res = quantify(cine, seg)
        frames = [overlay(f, l) for f, l in zip(cine.frames, seg.labels)]
        # The GIF shows the sector only, at a size that keeps the file small.
        rows, cols = np.nonzero(cine.fan_mask)
        crop = [f[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] for f in frames]
        scale = min(1.0, 240 / crop[0].shape[1])
        step = 2 if len(crop) > 60 else 1
        small = [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for c in crop[::step]]
        iio.imwrite(args.output / f"real_{name}_contours.gif", np.stack(small), duration=step * 1000 / (cine.fps or 30), loop=0)
        picks = np.linspace(0, cine.n_frames - 1, 8).astype(int)
        fig = plt.figure(figsize=(16, 6.5))
        for k, i in enumerate(picks):
            ax = fig.add_subplot(2, 8, k + 1)
            img = frames[i]
            ax.imshow(img)
            ax.set_title(f"frame {i}", fontsize=8)
            ax.axis("off")
        ax = fig.add_subplot(2, 1, 2)
        key = "volume_ml" if "volume_ml" in res.curves else "volume_px3"
        ax.plot(res.curves[key], "k-")
        for b in res.beats:
            ax.axvline(b.ed_frame, color="r", ls="--", lw=0.8)
            ax.axvline(b.es_frame, color="b", ls=":", lw=0.8)
        ax.set_xlabel("frame")
        ax.set_ylabel(key)
        lvef = "withheld" if res.lvef_pct is None else f"{res.lvef_pct:.0f}%"
        gls = "withheld" if res.gls_pct is None else f"{res.gls_pct:.1f}%"
        ax.set_title(f"{name}: LVEF {lvef}, GLS {gls}, beats {res.summary['n_beats']} "
                     f"(red ED, blue ES); flags: {[f.split(':')[0] for f in res.flags]}", fontsize=9)
        fig.suptitle(f"default model '{predictor.name}' on a real apical 4-chamber loop "
                     "(red LV cavity, blue myocardium, green LA)", fontsize=10)
        fig.tight_layout()
        fig.savefig(args.output / f"real_{name}_strip.png", dpi=80)
        plt.close(fig)
        print(name, "LVEF", lvef, "GLS", gls, "mean LV confidence", float(np.mean(seg.frame_confidence)))


if __name__ == "__main__":
    main()
