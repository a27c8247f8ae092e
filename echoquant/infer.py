"""Hydra door to batch inference: ``python -m echoquant.infer input=... output=...``
(config ``configs/infer.yaml``); runs :func:`echoquant.batch.analyze`."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, ListConfig

from echoquant.batch import BatchOptions, BatchSummary, analyze

__all__ = ["infer"]


def infer(cfg: DictConfig) -> BatchSummary:
    """Run one batch (or one shard) as the config says."""
    inputs = list(cfg.input) if isinstance(cfg.input, (list, ListConfig)) else [cfg.input]
    options = BatchOptions(overlays=cfg.overlays, sr=cfg.sr, resume=cfg.resume, overwrite=cfg.overwrite,
                           num_parts=cfg.num_parts, part_id=cfg.part_id, workers=cfg.workers)
    return analyze(inputs, cfg.output, model=cfg.model, device=cfg.device, tta=cfg.tta, track=cfg.track,
                   options=options, show_progress=cfg.show_progress, find_views=cfg.get("find_views", True))


@hydra.main(version_base="1.3", config_path="../configs", config_name="infer")
def main(cfg: DictConfig) -> None:
    summary = infer(cfg)
    print(f"{summary.count('ok')} ok, {summary.n_failed} failed, {summary.count('skipped')} skipped; "
          f"tables: {', '.join(map(str, summary.tables))}")
    if summary.n_failed and not cfg.allow_failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
