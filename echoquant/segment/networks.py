"""MONAI 2D networks for LV segmentation, chosen by config.

Classes follow CAMUS: 0 background, 1 LV cavity, 2 LV myocardium, 3 LA.
"""

from __future__ import annotations

from torch import nn

__all__ = ["NUM_CLASSES", "unet", "dynunet", "segresnet", "build_network"]

NUM_CLASSES = 4


def unet(channels: tuple[int, ...] = (16, 32, 64, 128, 256), num_res_units: int = 2, dropout: float = 0.0) -> nn.Module:
    """MONAI residual UNet (the CPU default)."""
    from monai.networks.nets import UNet

    strides = (2,) * (len(channels) - 1)
    return UNet(spatial_dims=2, in_channels=1, out_channels=NUM_CLASSES, channels=tuple(channels), strides=strides,
                num_res_units=num_res_units, dropout=dropout)


def dynunet(image_size: int = 256, base_filters: int = 32, max_filters: int = 320, deep_supervision: bool = False) -> nn.Module:
    """DynUNet configured as nnU-Net plans a 2D echo task: 3x3 kernels, stride-2
    downsampling until the feature map is 4-8 pixels, filters doubling from 32 up
    to 320, instance norm and leaky ReLU."""
    from monai.networks.nets import DynUNet

    n_down = 0
    size = image_size
    while size // 2 >= 4 and n_down < 6:
        size //= 2
        n_down += 1
    kernels = [[3, 3]] * (n_down + 1)
    strides = [[1, 1]] + [[2, 2]] * n_down
    filters = [min(base_filters * 2**i, max_filters) for i in range(n_down + 1)]
    return DynUNet(spatial_dims=2, in_channels=1, out_channels=NUM_CLASSES, kernel_size=kernels, strides=strides,
                   upsample_kernel_size=strides[1:], filters=filters, norm_name="instance",
                   act_name=("leakyrelu", {"negative_slope": 0.01, "inplace": True}), deep_supervision=deep_supervision,
                   deep_supr_num=1)


def segresnet(init_filters: int = 16, blocks_down: tuple[int, ...] = (1, 2, 2, 4), dropout: float = 0.0) -> nn.Module:
    """MONAI SegResNet."""
    from monai.networks.nets import SegResNet

    return SegResNet(spatial_dims=2, in_channels=1, out_channels=NUM_CLASSES, init_filters=init_filters,
                     blocks_down=tuple(blocks_down), blocks_up=(1,) * (len(blocks_down) - 1), dropout_prob=dropout or None)


_BUILDERS = {"unet": unet, "dynunet": dynunet, "segresnet": segresnet}


def build_network(name: str, **kwargs) -> nn.Module:
    """Build a network by name (``unet``, ``dynunet``, ``segresnet``)."""
    if name not in _BUILDERS:
        raise ValueError(f"network must be one of {sorted(_BUILDERS)}, got {name!r}")
    return _BUILDERS[name](**kwargs)
