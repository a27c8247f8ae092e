"""Which apical view a loop shows: a small MONAI classifier (4-chamber or 2-chamber).

The classifier looks at what the segmentation network already produced: the
frame's grey levels (histogram-equalised, so scanner tone curves do not matter)
and the LV cavity, myocardium and LA masks, in a square box around the LV cavity
resized to 64 x 64 (so depth, sector width and sector detection do not change what
it sees). It is trained on the expert-traced ED and ES frames of the CAMUS train split (:func:`train_view_classifier`), with mirrored copies so that
either display convention is recognised; its weights inherit CAMUS's licence
(CC BY-NC-SA 4.0). It answers only "A4C or A2C": whether a loop shows a
measurable LV at all is decided by :mod:`echoquant.quant.view` from the
segmentation's plausibility.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from echoquant.errors import ChecksumError, ModelError
from echoquant.segment.bundle import sha256_of
from echoquant.segment.preprocess import CropBox, _crop, crop_box_for, normalize_intensity
from echoquant.segment.result import LA, LV_CAVITY, LV_MYOCARDIUM

__all__ = ["VIEW_CLASSES", "INPUT_SIZE", "ViewClassifier", "ViewPrediction", "build_view_network", "view_input",
           "default_view_model_dir", "train_view_classifier", "save_view_model"]

VIEW_CLASSES = ("A4C", "A2C")
INPUT_SIZE = 64
_CHANNELS = (16, 32, 64, 64)
_WEIGHTS, _METADATA = "model.safetensors", "metadata.json"
_LV_BOX_SCALE = 2.4
# CAMUS names its views 4CH/2CH; the DICOM-style names used everywhere else.
CAMUS_VIEW = {"4CH": "A4C", "2CH": "A2C"}


def default_view_model_dir() -> Path:
    """The shipped view classifier (``models/echoquant_view_cnn``)."""
    return Path(__file__).resolve().parents[2] / "models" / "echoquant_view_cnn"


def build_view_network() -> nn.Module:
    """The classifier: MONAI's strided residual encoder with a linear head."""
    from monai.networks.nets import Classifier

    return Classifier(in_shape=(4, INPUT_SIZE, INPUT_SIZE), classes=len(VIEW_CLASSES), channels=_CHANNELS,
                      strides=(2, 2, 2, 2), num_res_units=1)


def _lv_box(lab: np.ndarray, fallback: CropBox) -> CropBox:
    """A square box centred on the LV cavity, :data:`_LV_BOX_SCALE` times its longest
    extent: the classifier sees the LV and its neighbours (RV, atria) at the same
    scale and place whatever the depth setting, the sector width or the sector
    detection; the scan-sector box when the frame has no LV."""
    rows, cols = np.nonzero(lab == LV_CAVITY)
    if len(rows) < 10:
        return fallback
    extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    size = int(np.ceil(_LV_BOX_SCALE * extent))
    return CropBox(int(round(rows.mean() - size / 2)), int(round(cols.mean() - size / 2)), size)


def view_input(frames: np.ndarray, labels: np.ndarray, fan_mask: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` grey frames and label maps -> ``(N, 4, 64, 64)`` float32 classifier input
    (equalised grey inside the sector, LV cavity, myocardium, LA) in a box around the LV.

    Raises:
        ValueError: frames and labels differ in shape.
    """
    if frames.shape != labels.shape or frames.ndim != 3:
        raise ValueError(f"frames and labels must both be (N, H, W), got {frames.shape} and {labels.shape}")
    fan_box = crop_box_for(fan_mask)
    size = (INPUT_SIZE, INPUT_SIZE)
    out = np.zeros((len(frames), 4, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    for i, (f, lab) in enumerate(zip(frames, labels)):
        box = _lv_box(lab, fan_box)
        fan = _crop(fan_mask.astype(np.uint8), box)
        out[i, 0] = cv2.resize(_crop(f, box) * fan, size, interpolation=cv2.INTER_AREA) / 255.0
        # Labels inside the sector only: the classifier was trained on labels cut at the
        # sector's edge, and the Predictor now keeps what lies beyond it.
        small = cv2.resize(_crop(lab, box) * fan, size, interpolation=cv2.INTER_NEAREST)
        for c, label in enumerate((LV_CAVITY, LV_MYOCARDIUM, LA), start=1):
            out[i, c] = small == label
    out[:, 0] = normalize_intensity(out[:, 0], "equalize")
    return out


@dataclass(frozen=True)
class ViewPrediction:
    """The classifier's answer for one loop: the view and its probability."""

    view: str
    probability: float


class ViewClassifier:
    """Load the view classifier once and name the view of many loops.

    Args:
        path: model folder (default: the shipped one).
        device: torch device.

    Raises:
        ModelError: missing or unreadable model files.
        ChecksumError: weights differ from the recorded checksum.
    """

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        from safetensors.torch import load_file

        root = Path(path) if path is not None else default_view_model_dir()
        meta_path, weights = root / _METADATA, root / _WEIGHTS
        if not meta_path.is_file() or not weights.is_file():
            raise ModelError(f"no view classifier at {root} (need {_METADATA} and {_WEIGHTS}); train one with "
                             "scripts/train_view_classifier.py", path=root)
        self.metadata = json.loads(meta_path.read_text())
        if sha256_of(weights) != self.metadata.get("sha256"):
            raise ChecksumError("view classifier weights differ from their recorded checksum; restore them "
                                "from the release", path=weights)
        self.device = torch.device(device)
        self.net = build_view_network()
        self.net.load_state_dict({k: v.float() for k, v in load_file(str(weights)).items()})
        self.net.to(self.device).eval()
        self.name = root.name

    @torch.no_grad()
    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """``(N, 4, 64, 64)`` inputs -> ``(N, 2)`` class probabilities (mean with the mirror image,
        since the classifier was trained on both display conventions)."""
        t = torch.from_numpy(x).to(self.device)
        p = torch.softmax(self.net(t), 1) + torch.softmax(self.net(t.flip(-1)), 1)
        return (0.5 * p).cpu().numpy()

    def predict(self, frames: np.ndarray, labels: np.ndarray, fan_mask: np.ndarray) -> ViewPrediction:
        """The view of a loop from some of its frames (e.g. ED and ES) and their labels."""
        p = self.probabilities(view_input(frames, labels, fan_mask)).mean(axis=0)
        k = int(np.argmax(p))
        return ViewPrediction(VIEW_CLASSES[k], float(p[k]))


def save_view_model(net: nn.Module, out_dir: str | Path, extra: dict[str, Any]) -> Path:
    """Write weights and metadata (with checksum and licence) into ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{_WEIGHTS}.partial"
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(out / _WEIGHTS)
    meta = {"name": out.name, "classes": list(VIEW_CLASSES), "input": f"4 x {INPUT_SIZE} x {INPUT_SIZE}: "
            "equalised grey, LV cavity, LV myocardium, LA (sector box)", "sha256": sha256_of(out / _WEIGHTS),
            **extra}
    (out / _METADATA).write_text(json.dumps(meta, indent=2))
    return out


def _load_camus_split(cases_dir: Path, split: str, predictor: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Classifier inputs, labels (class index) and patients of a converted CAMUS split.

    The label channels are the segmentation network's, not the experts': the
    classifier must learn from what it will see. (In this CAMUS copy the 2CH expert
    masks were resampled to 224 x 224 and are blocky where the 4CH ones are smooth: a
    classifier trained on them learned the blockiness, not the view.)
    """
    from echoquant.io import read_cine
    from echoquant.segment.adapters import read_camus_cases

    xs, ys, patients = [], [], []
    for case in read_camus_cases(cases_dir):
        if case.split != split or case.view not in CAMUS_VIEW:
            continue
        cine = read_cine(cases_dir / case.relpath())
        pick = [0, cine.n_frames - 1]  # ED and ES
        labels = predictor.predict(cine).labels
        xs.append(view_input(cine.frames[pick], labels[pick], cine.fan_mask))
        ys += [VIEW_CLASSES.index(CAMUS_VIEW[case.view])] * len(pick)
        patients += [case.patient] * len(pick)
    return np.concatenate(xs), np.asarray(ys), patients


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """What differs between scanners and sites, so that CAMUS's one scanner is not all the
    classifier knows: display mirror, probe angle, depth and offset (random affine), a
    sector cut at one side, coarse resolution (a downscaled export) and tone."""
    n = len(x)
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    flip = u(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    angle = (u(n) - 0.5) * np.radians(30.0)
    scale = 0.85 + 0.3 * u(n)  # the LV box fixes the scale; what is left is the LV's outline
    # Aspect ratio: this CAMUS copy's 2CH images were squeezed to 224 x 224 squares and
    # its 4CH ones were not; without this the classifier would learn the squeeze.
    aspect = torch.exp((u(n) - 0.5) * 2 * np.log(1.4))
    shift = (u(n, 2) - 0.5) * 0.25
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx, sy = 1 / (scale * aspect), aspect / scale
    theta = torch.stack([torch.stack([cos * sx, -sin * sx, shift[:, 0]], 1),
                         torch.stack([sin * sy, cos * sy, shift[:, 1]], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    image = x[:, :1]
    # A sector cut on one side (narrower sector, or the LV near its edge).
    cols = torch.arange(INPUT_SIZE, dtype=torch.float32)
    cut = (u(n) * 0.2 * INPUT_SIZE)[:, None]
    left = u(n)[:, None] < 0.5
    keep = torch.where(left, cols[None] >= cut, cols[None] < INPUT_SIZE - cut) | (u(n)[:, None] < 0.5)
    image = image * keep[:, None, None, :].float()
    # Coarse resolution, then tone (gamma) and speckle-like noise.
    low = int(24 + 40 * float(u(1)))
    image = torch.nn.functional.interpolate(torch.nn.functional.interpolate(image, size=low, mode="area"),
                                            size=INPUT_SIZE, mode="bilinear", align_corners=False)
    gamma = (0.7 + 0.6 * u(n))[:, None, None, None]
    noise = 0.05 * torch.randn(image.shape, generator=gen)
    image = ((image.clamp(0, 1) ** gamma) + noise * (image > 0)).clamp(0, 1)
    return torch.cat([image, x[:, 1:]], dim=1)


def train_view_classifier(cases_dir: str | Path, out_dir: str | Path, *, epochs: int = 80, batch_size: int = 64,
                          lr: float = 2e-3, seed: int = 0) -> dict[str, Any]:
    """Train the view classifier on a converted CAMUS copy (``echoquant convert camus``):
    the train split's ED and ES frames with the shipped segmentation model's labels;
    accuracy on the valid split, per patient view (ED and ES averaged), as the
    Analyzer uses it.

    Returns:
        The metadata written (accuracy, epochs, seed, licence).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    from echoquant.segment.predictor import Predictor

    cases_dir = Path(cases_dir)
    # ED and ES are not neighbouring frames: no temporal smoothing across them.
    predictor = Predictor(device="cpu", temporal_window=1)
    x_tr, y_tr, _ = _load_camus_split(cases_dir, "train", predictor)
    x_va, y_va, _ = _load_camus_split(cases_dir, "valid", predictor)
    net = build_view_network()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * ((len(x_tr) + batch_size - 1) // batch_size))
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(_augment(xt[idx], gen)), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        t = torch.from_numpy(x_va)
        p = (0.5 * (torch.softmax(net(t), 1) + torch.softmax(net(t.flip(-1)), 1))).numpy()
    # ED and ES of one patient view are consecutive rows: the loop-level answer is their mean.
    per_view = p.reshape(-1, 2, p.shape[1]).mean(axis=1)
    accuracy = float(np.mean(per_view.argmax(1) == y_va[::2]))
    extra = {"license": "CC-BY-NC-SA-4.0 (trained on CAMUS)", "training_data": "CAMUS train split, ED and ES frames "
             f"with the labels of segmentation model {predictor.name}", "epochs": epochs, "seed": seed, "valid_accuracy": accuracy,
             "valid_n": int(len(per_view))}
    save_view_model(net, out_dir, extra)
    return extra
