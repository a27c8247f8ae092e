"""Model bundles laid out like MONAI bundles, loaded safely.

``models/<name>/configs/metadata.json`` describes the network (how to build it,
input size, classes, training data) and records the SHA-256 of
``models/<name>/models/model.safetensors``. Weights are safetensors (no code can
run on load); a file whose checksum differs from the metadata is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from echoquant.errors import ChecksumError, ModelError
from echoquant.segment.networks import build_network
from echoquant.segment.preprocess import INTENSITY_MODES

__all__ = ["Bundle", "save_bundle", "load_bundle", "sha256_of", "default_model_dir"]

WEIGHTS = Path("models") / "model.safetensors"
METADATA = Path("configs") / "metadata.json"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_model_dir() -> Path:
    """The shipped default model (``models/echoquant_lv_unet`` at the repository root)."""
    return Path(__file__).resolve().parents[2] / "models" / "echoquant_lv_unet"


@dataclass
class Bundle:
    """A loaded model: the network in eval mode and its metadata."""

    net: nn.Module
    metadata: dict[str, Any]
    path: Path

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.path.name))

    @property
    def image_size(self) -> int:
        return int(self.metadata["network_data_format"]["inputs"]["image"]["spatial_shape"][0])

    @property
    def license(self) -> str:
        """The weights' licence; bundles written before the field existed were trained
        on generated data only (the project's Apache-2.0)."""
        return str(self.metadata.get("license", "Apache-2.0"))

    @property
    def species_models(self) -> dict[str, Path]:
        """Other bundles this one hands loops of a species to (``metadata["species_models"]``:
        species -> bundle folder, relative to this bundle's parent folder); empty when the
        weights segment every species themselves."""
        routes = self.metadata.get("species_models") or {}
        return {str(species): (self.path.parent / str(folder)).resolve() for species, folder in routes.items()}

    @property
    def intensity(self) -> str:
        """How the network expects grey levels (:func:`~echoquant.segment.preprocess.normalize_intensity`);
        bundles written before the field existed used ``"scale"``."""
        return str(self.metadata["network_data_format"]["inputs"]["image"].get("intensity", "scale"))


def save_bundle(net: nn.Module, out_dir: str | Path, *, network: dict[str, Any], image_size: int,
                extra: dict[str, Any] | None = None, half: bool = True, intensity: str = "scale",
                license: str = "Apache-2.0") -> Path:
    """Write weights (fp16 by default, to stay a few MB) and metadata with checksum.

    Args:
        license: the weights' licence (SPDX id plus why, if inherited): weights
            trained on a dataset carry that dataset's licence (CAMUS: CC-BY-NC-SA-4.0).

    Raises:
        ValueError: unknown ``intensity`` mode, or an empty ``license``.
    """
    from safetensors.torch import save_file

    if intensity not in INTENSITY_MODES:
        raise ValueError(f"intensity must be one of {INTENSITY_MODES}, got {intensity!r}")
    if not str(license).strip():
        raise ValueError(f"license must name the weights' licence (e.g. 'Apache-2.0'), got {license!r}")

    out = Path(out_dir)
    (out / WEIGHTS.parent).mkdir(parents=True, exist_ok=True)
    (out / METADATA.parent).mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu() for k, v in net.state_dict().items()}
    tmp = out / WEIGHTS.with_name(".model.partial.safetensors")
    save_file(state, str(tmp))
    tmp.replace(out / WEIGHTS)
    meta = {
        "name": out.name,
        "version": "0.1.0",
        "license": str(license),
        "network": network,
        "weights": {"file": str(WEIGHTS), "sha256": sha256_of(out / WEIGHTS), "dtype": "float16" if half else "float32"},
        "network_data_format": {
            "inputs": {"image": {"type": "image", "format": "magnitude", "modality": "US", "num_channels": 1,
                                 "spatial_shape": [image_size, image_size], "dtype": "float32", "value_range": [0, 1],
                                 "preprocessing": "crop to the scan-sector box, square, resize, grey/255"
                                 + (", per-frame histogram equalisation of non-zero pixels" if intensity == "equalize" else ""),
                                 "intensity": intensity}},
            "outputs": {"pred": {"type": "image", "format": "segmentation", "num_channels": 4,
                                 "spatial_shape": [image_size, image_size], "dtype": "float32",
                                 "channel_def": {"0": "background", "1": "lv_cavity", "2": "lv_myocardium", "3": "la"}}},
        },
        **(extra or {}),
    }
    (out / METADATA).write_text(json.dumps(meta, indent=2))
    return out


def load_bundle(path: str | Path | None = None, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle, checking the weights' checksum first.

    Raises:
        ModelError: missing files or unreadable metadata.
        ChecksumError: weights differ from the recorded checksum (tampered or corrupt).
    """
    from safetensors.torch import load_file

    root = Path(path) if path is not None else default_model_dir()
    meta_path, weights = root / METADATA, root / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise ModelError(f"no model bundle at {root} (need {METADATA} and {WEIGHTS}); train one with "
                         "`python -m echoquant.train` or pass --model", path=root)
    try:
        meta = json.loads(meta_path.read_text())
        expected = meta["weights"]["sha256"]
        network = meta["network"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelError(f"model metadata unreadable ({exc}); restore {METADATA}", path=root) from exc
    actual = sha256_of(weights)
    if actual != expected:
        raise ChecksumError(f"weights checksum {actual[:12]}... differs from the metadata's {expected[:12]}...; "
                            "the file is corrupt or was modified: restore it from the release", path=weights)
    net = build_network(network["name"], **network.get("kwargs", {}))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    net.load_state_dict(state)
    net.to(device).eval()
    return Bundle(net, meta, root)
