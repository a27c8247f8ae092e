"""Training task: ``python -m echoquant.train experiment=default_cpu`` (Hydra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

__all__ = ["train"]


def _network_spec(cfg: DictConfig) -> dict[str, Any]:
    net = OmegaConf.to_container(cfg.model.net, resolve=True)
    net.pop("_target_", None)
    name = net.pop("name")
    return {"name": name, "kwargs": net}


def _start_from_bundle(module: Any, path: str, image_size: int, intensity: str) -> str:
    """Fine-tuning: copy a bundle's weights into ``module.net`` (same network, input size
    and grey-level mode).

    Returns:
        The bundle's licence: weights fine-tuned from it inherit it.

    Raises:
        ValueError: the bundle's network, input size or intensity mode differs from the
            configured one.
    """
    from echoquant.segment.bundle import load_bundle

    bundle = load_bundle(path)
    if bundle.image_size != image_size:
        raise ValueError(f"init_from {path} was trained at {bundle.image_size} px; set image_size={bundle.image_size}, "
                         f"got {image_size}")
    if bundle.intensity != intensity:
        raise ValueError(f"init_from {path} expects intensity={bundle.intensity} input; "
                         f"set intensity={bundle.intensity}, got {intensity}")
    try:
        module.net.load_state_dict(bundle.net.state_dict())
    except RuntimeError as exc:
        raise ValueError(f"init_from {path}: its network ({bundle.metadata['network']}) does not match model.net; "
                         "use the same model config") from exc
    print(f"starting from the weights of {path} (licence: {bundle.license})")
    return bundle.license


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the model described by ``cfg`` and export it as a bundle.

    Returns:
        The final validation metrics.
    """
    import lightning.pytorch as pl
    import torch

    from echoquant.segment.bundle import save_bundle

    pl.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = hydra.utils.instantiate(cfg.model)
    licence = cfg.model_license
    if cfg.get("init_from"):
        inherited = _start_from_bundle(module, cfg.init_from, cfg.image_size, cfg.intensity)
        if inherited != licence:
            # Fine-tuned weights carry the licence of the weights they start from as well
            # as that of the new training data.
            licence = f"{inherited} (inherited from init_from {cfg.init_from}); training data: {licence}"
    callbacks = [hydra.utils.instantiate(c) for c in cfg.get("callbacks", {}).values()]
    logger = hydra.utils.instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    trainer.fit(module, datamodule=datamodule)
    checkpoint = next((c for c in callbacks if isinstance(c, pl.callbacks.ModelCheckpoint)), None)
    selected: dict[str, Any] = {"step": int(trainer.global_step), "rule": "last step (no checkpoint callback)"}
    if checkpoint is not None and checkpoint.best_model_path:
        saved = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(saved["state_dict"])
        selected = {"step": int(saved["global_step"]), "rule": f"best {checkpoint.monitor} ({checkpoint.mode})",
                    "score": float(checkpoint.best_model_score)}
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    out = save_bundle(
        module.inference_net, Path(cfg.export_dir) / cfg.model_name, network=_network_spec(cfg), image_size=cfg.image_size,
        intensity=getattr(datamodule, "intensity", "scale"), license=licence,
        extra={"training": {"data": cfg.training_data, "config": OmegaConf.to_container(cfg, resolve=False),
                            "selected_checkpoint": selected, "last_val_metrics": metrics}})
    print(f"exported model bundle to {out}")
    return metrics


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
