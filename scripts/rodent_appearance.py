"""Generated rodent frames against real Vevo frames: the same appearance statistics on
both (``echoquant.synth.appearance``) and a side-by-side figure.

    python scripts/rodent_appearance.py ../shared/rodent-real --n 40 \
        --markdown docs/rodent_appearance.md --figure docs/rodent_appearance.png

Real frames: every still of the rodent-real folder (never copied, never trained on).
Generated: ``--n`` mouse PLAX loops (seeds from ``--seed``), their first ED frame. The
LV cavity of both is the shipped model's trace (one method on both sides).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np

from echoquant.io.cine import EchoCine
from echoquant.quant.masks import largest_component
from echoquant.segment.predictor import Predictor
from echoquant.segment.result import LV_CAVITY
from echoquant.synth import generate_case, sample_params
from echoquant.synth.appearance import APPEARANCE_KEYS, appearance_stats
from echoquant.synth.generate import frame_schedule


def _cavity(pred: Predictor, image: np.ndarray, imaged: np.ndarray) -> np.ndarray:
    cine = EchoCine(frames=image[None], fps=None, frame_times_ms=None, spacing_mm=None, heart_rate_bpm=None,
                    fan_mask=imaged)
    return largest_component(pred.predict(cine).labels[0] == LV_CAVITY)


def real_frames(root: Path) -> list[tuple[str, np.ndarray, float]]:
    rows = list(csv.DictReader((root / "frames.csv").open()))
    return [(r["name"], cv2.imread(str(root / "frames" / f"{r['name']}.png"), cv2.IMREAD_GRAYSCALE),
             float(r["spacing_mm"])) for r in rows]


def generated_frames(n: int, seed: int, view: str = "PLAX") -> list[tuple[str, np.ndarray, float, np.ndarray]]:
    out = []
    for i in range(n):
        p = sample_params("mouse", seed + i, view=view, overlays=False)
        _, ed, _ = frame_schedule(p)
        case = generate_case(p, only_frames=[int(ed[0])])
        out.append((f"seed {seed + i}", case.grey[int(ed[0])], case.params.spacing_mm, case.sector))
    return out


def _crop_to(img: np.ndarray, imaged: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(imaged)
    return img[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


def _figure(real: list, plax: list, sax: list, path: Path, mm_px: float = 0.03, height_mm: float = 10.0) -> None:
    """Rows of frames at one scale (``mm_px`` mm per figure pixel), each cut to ``height_mm`` deep."""
    def tile(img: np.ndarray, spacing: float) -> np.ndarray:
        f = spacing / mm_px
        t = cv2.resize(img, (int(img.shape[1] * f), int(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        h = int(height_mm / mm_px)
        t = t[:h] if t.shape[0] >= h else np.pad(t, ((0, h - t.shape[0]), (0, 0)))
        return np.pad(t, ((4, 4), (4, 4)))

    rows = []
    for name, frames in (("real Vevo PLAX", real), ("generated PLAX", plax), ("generated SAX", sax)):
        tiles = [tile(img, s) for img, s in frames]
        row = np.hstack(tiles)
        label = np.zeros((28, row.shape[1]), np.uint8)
        cv2.putText(label, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 1, cv2.LINE_AA)
        rows.append(np.vstack([label, row]))
    width = max(r.shape[1] for r in rows)
    cv2.imwrite(str(path), np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows]))


def _summary(stats: list[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    out = {}
    for k in APPEARANCE_KEYS:
        v = np.array([s[k] for s in stats if np.isfinite(s[k])])
        out[k] = tuple(np.percentile(v, [50, 25, 75])) if len(v) else (np.nan,) * 3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="the rodent-real folder")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=4_400_000)
    ap.add_argument("--model", default=None)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--figure", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    pred = Predictor(args.model, device="cpu")
    real = real_frames(args.root)
    real_stats = [appearance_stats(img, _cavity(pred, img, np.ones(img.shape, bool)), s) for _, img, s in real]
    gen = generated_frames(args.n, args.seed)
    gen_stats = [appearance_stats(img, _cavity(pred, img, sec), s, sec) for _, img, s, sec in gen]
    rs, gs = _summary(real_stats), _summary(gen_stats)
    lines = [f"Command: `python scripts/rodent_appearance.py {args.root} --n {args.n}` (model `{pred.name}`; "
             f"{time.strftime('%Y-%m-%d')}; {time.perf_counter() - t0:.0f} s). Median [interquartile range]; "
             f"{len(real)} real Vevo 2100/3100 PLAX stills, {len(gen)} generated mouse PLAX ED frames.", "",
             "| statistic | real | generated |", "|---|---|---|"]
    for k in APPEARANCE_KEYS:
        a, b = rs[k], gs[k]
        lines.append(f"| {k} | {a[0]:.3g} [{a[1]:.3g}, {a[2]:.3g}] | {b[0]:.3g} [{b[1]:.3g}, {b[2]:.3g}] |")
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    if args.figure:
        pick = np.linspace(0, len(real) - 1, 4).astype(int)
        sax = generated_frames(4, args.seed + 1000, "SAX")
        _figure([(real[i][1], real[i][2]) for i in pick], [(_crop_to(g[1], g[3]), g[2]) for g in gen[:4]],
                [(_crop_to(g[1], g[3]), g[2]) for g in sax], args.figure)


if __name__ == "__main__":
    main()
