"""Inference: a loop in, a :class:`~echoquant.segment.result.Segmentation` out, on the
cine's own pixel grid (the nnU-Net ``Predictor`` pattern: load once, predict many)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from echoquant.io.cine import EchoCine
from echoquant.io.species import loop_species
from echoquant.segment.bundle import Bundle, load_bundle
from echoquant.segment.preprocess import crop_box_for, labels_from_network, normalize_intensity, to_network
from echoquant.segment.result import AREA_LEVELS, LA, LABEL_NAMES, LV_CAVITY, Segmentation

__all__ = ["Predictor", "resolve_device", "temporal_mean", "cycle_limited_window", "cycle_period_frames",
           "KEEP_LARGEST", "DEFAULT_BATCH"]

# Frames per forward pass by device type when none is asked for.
DEFAULT_BATCH = {"cpu": 32, "cuda": 128}

# Labels of which a frame has exactly one region (nnU-Net-style post-processing). The
# myocardium is left alone: keeping its largest region lowered its Dice on CAMUS valid.
KEEP_LARGEST = (LV_CAVITY, LA)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Predictor:
    """Segments every frame of a loop with a model bundle.

    Args:
        model: bundle folder (default: the shipped model) or a loaded :class:`Bundle`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        batch_size: frames per forward pass; None: :data:`DEFAULT_BATCH` for the
            device (large on a GPU, where a forward pass costs little more for more
            frames; on a CPU bigger batches only cost memory).
        tta: average with the left-right mirrored prediction.
        temporal_window: average class probabilities over at most this many
            neighbouring frames (odd; 1 = off) before the decision, so that a
            frame-to-frame flicker between LV and LA does not reach the volume curve.
            The window is narrowed to what the loop's cardiac cycle allows
            (:func:`cycle_limited_window`): a moving mean flattens the curve's
            extremes: a 3-frame mean over an 18-frame mouse cycle (500 bpm at 150
            frames/s) would lower the ED-ES swing by 8 %.
        keep_largest: labels of which only the largest connected region per frame is
            kept (the rest becomes background), as nnU-Net's post-processing does: a
            frame has one LV cavity and one LA, and stray blobs (in the right heart,
            below the sector) are errors. "Largest" counts the pixels inside the scan
            sector: a region drawn wholly past the sector's edge has no image under it
            and loses to any imaged one. Empty: off.
        clip_to_sector: set every label outside the scan sector to background. Off by
            default: expert outlines (CAMUS) carry the lateral wall and the atrium on
            across the sector's edge, the network learnt to do the same, and cutting its
            labels there cost about 3 Dice points of myocardium and LA on the real
            validation patients (the LV cavity lies inside the sector and is unchanged).
        route_species: segment a loop with the weights the bundle names for its species
            (:attr:`Bundle.species_models`; the shipped model hands mouse and rat loops to
            its rodent weights). The species is the header's or side table's, else inferred
            from the depth of the image and the frame rate as quantification infers it
            (:func:`~echoquant.io.species.loop_species`). False: the bundle's own weights
            for every loop.
    """

    def __init__(self, model: str | Path | Bundle | None = None, device: str = "auto", batch_size: int | None = None,
                 tta: bool = False, temporal_window: int = 3, keep_largest: tuple[int, ...] = KEEP_LARGEST,
                 clip_to_sector: bool = False, route_species: bool = True) -> None:
        if temporal_window < 1 or temporal_window % 2 == 0:
            raise ValueError(f"temporal_window must be a positive odd number, got {temporal_window}")
        foreground = set(LABEL_NAMES) - {0}
        if not set(keep_largest) <= foreground:
            raise ValueError(f"keep_largest must hold foreground labels {sorted(foreground)}, got {keep_largest}")
        self.temporal_window, self.keep_largest = temporal_window, tuple(keep_largest)
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            # Trained weights produce subnormal floats in some activations, which take a
            # slow path on x86 CPUs (about 12 % of the network's time); flushing them to
            # zero leaves the labels unchanged. The setting is process-wide.
            torch.set_flush_denormal(True)
        self.bundle = model if isinstance(model, Bundle) else load_bundle(model, self.device)
        self.bundle.net.to(self.device).eval()
        self._routes = self.bundle.species_models if route_species else {}
        self._loaded: dict[Path, Bundle] = {}  # routed bundles, loaded when first needed
        self._used: set[str] = set()  # names of the bundles that segmented loops
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be a positive number of frames, got {batch_size}")
        self.batch_size = batch_size or DEFAULT_BATCH.get(self.device.type, DEFAULT_BATCH["cpu"])
        self.tta, self.clip_to_sector = tta, clip_to_sector

    @property
    def name(self) -> str:
        return self.bundle.name

    def describe(self) -> str:
        """The model's name, with the weights that segmented the loops so far where the
        bundle routed some of them elsewhere (for reports)."""
        others = sorted(self._used - {self.bundle.name})
        return self.name if not others else f"{self.name} (weights used: {', '.join(sorted(self._used))})"

    def bundle_for(self, cine: EchoCine) -> Bundle:
        """The weights that segment this loop: those the bundle names for the loop's
        species, else its own.

        Raises:
            ModelError, ChecksumError: the routed bundle is missing or corrupt.
        """
        target = self._routes.get(loop_species(cine)[0])
        if target is None:
            return self.bundle
        if target not in self._loaded:
            routed = load_bundle(target, self.device)
            routed.net.to(self.device).eval()
            self._loaded[target] = routed
        return self._loaded[target]

    @torch.no_grad()
    def _probs(self, x: np.ndarray, net: torch.nn.Module) -> np.ndarray:
        out = None  # filled batch by batch: a long loop's probabilities are held once
        for i in range(0, len(x), self.batch_size):
            xb = torch.from_numpy(x[i : i + self.batch_size]).to(self.device)
            p = torch.softmax(net(xb), dim=1)
            if self.tta:
                p = 0.5 * (p + torch.softmax(net(xb.flip(-1)), dim=1).flip(-1))
            if out is None:
                out = np.empty((len(x),) + tuple(p.shape[1:]), dtype=np.float32)
            out[i : i + len(p)] = p.float().cpu().numpy()
        return out if out is not None else np.zeros((0, len(LABEL_NAMES), *x.shape[2:]), dtype=np.float32)

    def predict(self, cine: EchoCine) -> Segmentation:
        """Labels ``(T, H, W)`` on the cine grid plus per-frame LV confidence."""
        bundle = self.bundle_for(cine)
        self._used.add(bundle.name)
        box = crop_box_for(cine.fan_mask)
        x = normalize_intensity(to_network(cine.frames, cine.fan_mask, box, bundle.image_size), bundle.intensity)
        probs = self._probs(x, bundle.net)
        window = cycle_limited_window(probs[:, LV_CAVITY].sum(axis=(1, 2)), self.temporal_window)
        if window > 1:
            probs = temporal_mean(probs, window)
        t, (h, w) = cine.n_frames, cine.shape
        labels = np.zeros((t, h, w), dtype=np.uint8)
        conf = np.zeros(t)
        region = cine.fan_mask if self.clip_to_sector else None
        for i in range(t):
            labels[i], prob = labels_from_network(probs[i], box, (h, w), region)
            for label in self.keep_largest:
                _keep_largest_region(labels[i], label, cine.fan_mask)
            lv = labels[i] == LV_CAVITY
            conf[i] = float(prob[lv].mean()) if lv.any() else 0.0
        return Segmentation(labels, None, bundle.name, conf, lv_area_levels(probs[:, LV_CAVITY]))


# A moving mean over w frames lowers the peak of a cosine of T frames per cycle by
# (w**2 - 1) / 24 * (2 pi / T)**2 of its swing (and lifts the trough as much). Windows are
# kept to at most 2.5 % of the swing at each end: 3 frames need T >= 23 (a human loop at
# 30 frames/s and 67 bpm has 27, a mouse loop at 200 frames/s and 500 bpm 24), so a
# mouse at 150 frames/s (T = 18) gets none. A tighter bound (1 %) took the window off
# 30 frames/s human loops and doubled the frame-to-frame area jitter of the real
# reference loop (tests/test_real_reference.py: 0.052 -> 0.104) for under half a point
# of LVEF or FAC on generated loops.
MAX_PEAK_FLATTENING = 0.025


def cycle_period_frames(curve: np.ndarray) -> float | None:
    """The cycle length in frames of a periodic curve (the LV area by frame): the lag of the
    first autocorrelation peak above 0.3 after the first zero crossing; None when the
    loop shows no repeat (shorter than about 1.5 cycles, or no motion)."""
    x = np.asarray(curve, dtype=float)
    x = x - x.mean()
    n = len(x)
    if n < 6 or not np.any(x):
        return None
    ac = np.correlate(x, x, mode="full")[n - 1 :]
    ac = ac / ac[0] / (n - np.arange(n)) * n  # unbiased: each lag over the frames it overlaps
    below = np.flatnonzero(ac[: n * 2 // 3] < 0)
    if not len(below):
        return None
    for k in range(int(below[0]) + 1, n * 2 // 3 - 1):
        if ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0.3:
            return float(k)
    return None


def cycle_limited_window(curve: np.ndarray, window: int) -> int:
    """The largest odd window <= ``window`` that flattens the extremes of the cycle read
    from ``curve`` by at most :data:`MAX_PEAK_FLATTENING` of the swing; a loop that
    shows no repeat counts its own length as the cycle (it holds about one cycle or less)."""
    n = len(curve)
    if window <= 1 or n < window:
        return 1
    period = cycle_period_frames(curve) or float(n)
    w_max = int(np.floor(np.sqrt(1 + 24 * MAX_PEAK_FLATTENING * (period / (2 * np.pi)) ** 2)))
    return max(1, min(window, w_max - (1 - w_max % 2)))


def lv_area_levels(lv_probability: np.ndarray) -> np.ndarray:
    """``(T, s, s)`` LV probability on the network grid -> ``(T, 3)`` pixel counts at
    :data:`~echoquant.segment.result.AREA_LEVELS` (counted on the network grid: only
    their ratios are used, and these are the same on any grid)."""
    return np.stack([(lv_probability >= level).sum(axis=(1, 2)) for level in AREA_LEVELS], axis=1).astype(np.float64)


def temporal_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Moving mean over the first axis (frames), ``window`` odd, the edge frames repeated
    (as scipy's ``uniform_filter1d(mode="nearest")``): a sum of ``window`` shifted copies
    of whole frames, which runs several times faster than filtering along a strided
    axis, added into one output array (no padded copy of a long loop)."""
    half, n = window // 2, len(x)
    out = np.empty_like(x)
    for k in range(window):
        shift = k - half  # frame t takes frame t + shift, clamped to the loop
        lo, hi = max(-shift, 0), n - max(shift, 0)  # the frames whose partner lies inside the loop
        if k == 0:
            out[lo:hi] = x[lo + shift : hi + shift]
            out[:lo], out[hi:] = x[0], x[-1]
            continue
        out[lo:hi] += x[lo + shift : hi + shift]
        out[:lo] += x[0]
        out[hi:] += x[-1]
    out *= np.float32(1.0 / window) if x.dtype == np.float32 else 1.0 / window
    return out


def _keep_largest_region(labels: np.ndarray, label: int, imaged: np.ndarray | None = None) -> None:
    """Set every pixel of ``label`` outside its largest 4-connected region to background, in place.

    The same rule as :func:`echoquant.quant.masks.largest_component`, with OpenCV's
    labelling inside the label's bounding box (a small LV in a large frame): it runs
    on every frame of every loop, and segmentation does not import the measurement
    stage that comes after it. With ``imaged`` (the scan sector), regions are ranked by
    their pixels inside it, so that a blob the network continued past the sector's edge
    (where there is no image to support it) cannot win over the imaged structure; the
    total size decides when no region reaches into the sector."""
    mask = labels == label
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    n, regions, stats, _ = cv2.connectedComponentsWithStats(mask[box].view(np.uint8), connectivity=4)
    if n <= 2:
        return
    size = stats[1:, cv2.CC_STAT_AREA]
    if imaged is not None:
        inside = np.bincount(regions[imaged[box]], minlength=n)[1:]
        size = inside if inside.any() else size
    keep = 1 + int(np.argmax(size))
    labels[box][(regions != keep) & (regions > 0)] = 0
