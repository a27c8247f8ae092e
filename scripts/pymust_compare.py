"""The generator's fast imager against a physics simulation (pymust) of the same scatterers.

    pip install -e ".[physics]"   # pymust
    python scripts/pymust_compare.py --seed 4400000 --markdown docs/pymust_compare.md \
        --figure docs/pymust_compare.png

One generated mouse PLAX end-diastolic frame: the scatterers the generator placed (tissue
classes, amplitudes, positions) are imaged twice, by ``echoquant.synth.imaging`` (splat into
a beam grid, Gaussian point-spread function) and by pymust (``simus``: each element's
response to every scatterer; plane-wave transmits at a few angles, delay-and-sum receive
with an f-number, compounded), on the same pixel grid over a window around the LV. The
appearance statistics of ``echoquant.synth.appearance`` are computed on both with the
generator's true LV cavity. pymust is slow (minutes per frame on 2 CPU cores), which is why
the training loops use the fast imager; this checks what that shortcut costs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from echoquant.synth import generate_case, sample_params
from echoquant.synth.appearance import APPEARANCE_KEYS, appearance_stats
from echoquant.synth.generate import frame_schedule
from echoquant.synth.imaging import Imager


def _scene(seed: int) -> tuple:
    """The generated frame, its LV cavity truth and the scatterers of its first rendering."""
    captured = {}
    original = Imager.beam_data

    def capture(self, x, z, amp):
        captured.setdefault("scene", (self, x.copy(), z.copy(), amp.copy()))
        return original(self, x, z, amp)

    p = sample_params("mouse", seed, view="PLAX", overlays=False)
    _, ed, _ = frame_schedule(p)
    Imager.beam_data = capture
    try:
        case = generate_case(p, only_frames=[int(ed[0])])
    finally:
        Imager.beam_data = original
    t = int(ed[0])
    return case, case.grey[t], case.labels[t] == 1, captured["scene"]


def _pymust_image(imager: Imager, x_mm: np.ndarray, z_mm: np.ndarray, amp: np.ndarray, rows: np.ndarray,
                  cols: np.ndarray, angles_deg: list[float], fnumber: float) -> np.ndarray:
    """Compounded plane-wave image (linear envelope) on the screen pixels ``rows x cols``."""
    import pymust

    p = pymust.getparam("L11-5V")
    p.fc = imager.probe.frequency_mhz * 1e6
    p.pitch = 0.055e-3
    p.width, p.kerf = 0.05e-3, 0.005e-3
    p.bandwidth = 60
    p.fs = 4 * p.fc
    p.attenuation = 0.0  # the fast image is time-gain compensated; neither is attenuated here
    p.fnumber = fnumber
    # world mm -> pymust metres, lateral about the window's centre
    xc = float(np.mean(x_mm))
    aperture_mm = float(np.ptp(x_mm)) + 2.0
    p.Nelements = int(aperture_mm / 0.055)
    x, z = (x_mm - xc) * 1e-3, z_mm * 1e-3
    h, w = len(rows), len(cols)
    cx, cz = imager.world_to_px(np.zeros(1), np.zeros(1))  # screen position of the world origin
    xi_mm = (cols - cx[0]) * imager.spacing_mm - xc
    zi_mm = (rows - cz[0]) * imager.spacing_mm
    xi, zi = np.meshgrid(xi_mm * 1e-3, zi_mm * 1e-3)
    opt = pymust.utils.Options()
    opt.ParPool = False
    out = np.zeros((h, w), dtype=complex)
    for a in angles_deg:
        dels = pymust.txdelay(p, np.radians(a))
        rf, _ = pymust.simus(x, z, amp, dels, p, opt)
        iq = pymust.rf2iq(rf, p)
        m = pymust.dasmtx(1j * np.array(iq.shape), xi, zi, dels, p)
        out += (m @ iq.flatten(order="F")).reshape(xi.shape, order="F")
    return np.abs(out)


def _to_grey(envelope: np.ndarray, dynamic_range_db: float, gamma: float) -> np.ndarray:
    """Log compression as the fast imager does it (reference at the 99.7th percentile)."""
    db = 20 * np.log10(envelope + 1e-12)
    ref = float(np.percentile(db, 99.7))
    img = np.clip((db - ref + dynamic_range_db) / dynamic_range_db, 0, 1) ** gamma
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=4_400_000)
    ap.add_argument("--width-mm", type=float, default=6.0, help="window width about the LV centre")
    ap.add_argument("--angles", type=float, nargs="+", default=[-6.0, 0.0, 6.0])
    ap.add_argument("--fnumber", type=float, default=2.0, help="receive f-number")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--figure", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    case, fast, cavity, (imager, x, z, amp) = _scene(args.seed)
    s = imager.spacing_mm
    rows_c, cols_c = np.nonzero(cavity)
    half = int(args.width_mm / 2 / s)
    c0 = int(cols_c.mean())
    cols = np.arange(max(c0 - half, 0), min(c0 + half, fast.shape[1]))
    rows = np.flatnonzero(case.sector[:, cols].any(axis=1))
    col_mm, _ = imager.world_to_px(np.zeros(1), np.zeros(1))
    x_lo, x_hi = (cols[0] - col_mm[0]) * s - 0.5, (cols[-1] - col_mm[0]) * s + 0.5
    keep = (x >= x_lo) & (x <= x_hi) & (np.abs(amp) > 0)
    env = _pymust_image(imager, x[keep], z[keep], amp[keep], rows, cols, args.angles, args.fnumber)
    settings = imager.settings
    phys = _to_grey(env, settings.dynamic_range_db, settings.gamma)
    window = np.ix_(rows, cols)
    fast_w, cav_w = fast[window], cavity[window]
    stats = {"fast imager": appearance_stats(fast_w, cav_w, s), "pymust": appearance_stats(phys, cav_w, s)}
    elapsed = time.perf_counter() - t0
    lines = [f"Command: `python scripts/pymust_compare.py --seed {args.seed} --width-mm {args.width_mm:g} "
             f"--angles {' '.join(f'{a:g}' for a in args.angles)} --fnumber {args.fnumber:g}` "
             f"({time.strftime('%Y-%m-%d')}; {elapsed:.0f} s on 2 CPU cores; {int(keep.sum())} scatterers, "
             f"{imager.probe.frequency_mhz:g} MHz, pixel {s:.4f} mm). One generated mouse PLAX ED frame, "
             "same scatterers, same pixel grid; LV cavity: the generator's truth.", "",
             "| statistic | fast imager (training loops) | pymust (physics) |", "|---|---|---|"]
    for k in APPEARANCE_KEYS:
        lines.append(f"| {k} | {stats['fast imager'][k]:.3g} | {stats['pymust'][k]:.3g} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.figure:
        label = np.zeros((24, fast_w.shape[1] * 2 + 6), np.uint8)
        cv2.putText(label, "fast imager", (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
        cv2.putText(label, "pymust", (fast_w.shape[1] + 10, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
        body = np.hstack([fast_w, np.zeros((fast_w.shape[0], 6), np.uint8), phys])
        cv2.imwrite(str(args.figure), np.vstack([label, body]))


if __name__ == "__main__":
    main()
