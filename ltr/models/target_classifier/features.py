"""Classification feature extractors of DiMP: residual blocks, a final conv and InstanceL2Norm."""
import math
from typing import Optional

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from ltr.models.layers.normalization import InstanceL2Norm


def classification_features(in_dim: int, out_dim: int, num_blocks: int = 1, block: str = 'basic',
                            final_conv: bool = True, l2norm: bool = True,
                            norm_scale: Optional[float] = None, filter_size: int = 4) -> nn.Sequential:
    """Feature head between the backbone layer and the filter.

    DiMP-18: one BasicBlock(256 -> 256), conv3x3 256 -> 256, InstanceL2Norm.
    DiMP-50: no block, conv3x3 1024 -> 512, InstanceL2Norm.
    The norm scale defaults to sqrt(1 / (out_dim * filter_size^2)), which keeps the initial scores
    of a filter of unit-norm features of order one.

    Args:
        block: 'basic' (keeps in_dim) or 'bottleneck' (in_dim = 4 * planes).
    """
    layers = []
    for _ in range(num_blocks):
        if block == 'basic':
            layers.append(BasicBlock(in_dim, in_dim))
        elif block == 'bottleneck':
            layers.append(Bottleneck(in_dim, in_dim // Bottleneck.expansion))
        else:
            raise ValueError(f"unknown classification feature block {block!r}; use 'basic' or 'bottleneck'")
    if final_conv:
        layers.append(nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1, bias=False))
    if l2norm:
        scale = norm_scale if norm_scale is not None else math.sqrt(1.0 / (out_dim * filter_size * filter_size))
        layers.append(InstanceL2Norm(scale=scale))
    return nn.Sequential(*layers)
