"""LightningModule for LV segmentation: Dice + cross-entropy, MONAI metrics, AdamW + cosine."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric, HausdorffDistanceMetric
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from echoquant.segment.networks import NUM_CLASSES

__all__ = ["LVSegmentationModule"]


class LVSegmentationModule(pl.LightningModule):
    """Trains a 2D network on (image, label) batches.

    Args:
        net: the network (from :mod:`echoquant.segment.networks`).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        max_steps: length of the cosine schedule (optimizer steps).
        ema_decay: keep an exponential moving average of the weights with this decay per
            step (0.999: about the last thousand steps); validation, and so model
            selection, and the exported bundle use the average. 0: off.
    """

    def __init__(self, net: nn.Module, lr: float = 2e-3, weight_decay: float = 1e-4, max_steps: int = 1000,
                 ema_decay: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        # The average is a copy of the network updated after every optimizer step; its
        # first update copies the weights as they are then (e.g. after init_from).
        self.ema = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
                    if ema_decay > 0 else None)
        if self.ema is not None:
            self.ema.requires_grad_(False)  # updated by averaging, never by the optimizer
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)
        # Soft targets (class fractions per pixel, background first): cross-entropy
        # against the fractions, Dice on them as they are.
        self.soft_loss = DiceCELoss(to_onehot_y=False, softmax=True, include_background=False)
        self.dice = DiceMetric(include_background=False, reduction="mean_batch")
        self.hd95 = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="mean_batch")

    @property
    def inference_net(self) -> nn.Module:
        """The network to validate and export: the weight average when kept, else the
        trained weights."""
        return self.ema.module if self.ema is not None else self.net

    @staticmethod
    def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = net(x)
        return out[:, 0] if out.ndim == 5 else out  # DynUNet deep supervision stacks outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self.net, x)

    def on_train_batch_end(self, outputs, batch: dict, batch_idx: int) -> None:
        # One update per batch, which is one optimizer step in these recipes (no
        # gradient accumulation); with accumulation the decay would act per batch.
        if self.ema is not None:
            self.ema.update_parameters(self.net)

    def _loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Dice + cross-entropy against class indices ``(B, 1, s, s)`` or class
        fractions ``(B, C, s, s)``."""
        soft = label.is_floating_point() and label.shape[1] == logits.shape[1]
        return self.soft_loss(logits, label) if soft else self.loss(logits, label)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(self(batch["image"]), batch["label"])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self._logits(self.inference_net, batch["image"])
        self.log("val/loss", self._loss(logits, batch["label"]), batch_size=len(batch["image"]))
        pred = torch.nn.functional.one_hot(logits.argmax(1), NUM_CLASSES).permute(0, 3, 1, 2)
        truth = torch.nn.functional.one_hot(batch["label"][:, 0], NUM_CLASSES).permute(0, 3, 1, 2)
        self.dice(pred, truth)
        self.hd95(pred, truth)

    def on_validation_epoch_end(self) -> None:
        dice = self.dice.aggregate()
        hd = self.hd95.aggregate()
        for i, name in enumerate(("lv", "myo", "la")):
            self.log(f"val/dice_{name}", dice[i])
            self.log(f"val/hd95_{name}", hd[i])
        self.log("val/dice_mean", dice.mean(), prog_bar=True)
        self.dice.reset()
        self.hd95.reset()

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.hparams.max_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
