"""Filter initialisers of DiMP (DiMP paper, Sec. 3.4: the model initialiser)."""
import math

import torch
from torch import nn

from ltr.models.layers.prroi_pool import PrRoIPool2D


def boxes_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 4) boxes [x, y, w, h] -> (N, 5) rois [index, x1, y1, x2, y2], index = row number."""
    index = torch.arange(boxes.shape[0], dtype=boxes.dtype, device=boxes.device).view(-1, 1)
    return torch.cat((index, boxes[:, :2], boxes[:, :2] + boxes[:, 2:]), dim=1)


class FilterInitializerLinear(nn.Module):
    """Initial filter = mean over the training images of PrRoIPool(conv(features), target box).

    Args:
        filter_size: fs; the pooled target region is fs x fs.
        feature_dim: C of the classification features.
        feature_stride: image pixels per feature cell (16 for layer3).
        filter_norm: divide by the number of filter elements, as pytracking's option.
    """

    def __init__(self, filter_size: int = 1, feature_dim: int = 256, feature_stride: int = 16,
                 filter_norm: bool = False, conv_ksz: int = 3):
        super().__init__()
        self.filter_conv = nn.Conv2d(feature_dim, feature_dim, kernel_size=conv_ksz, padding=conv_ksz // 2)
        self.filter_pool = PrRoIPool2D(filter_size, filter_size, 1.0 / feature_stride)
        self.filter_norm = filter_norm
        nn.init.normal_(self.filter_conv.weight, 0, math.sqrt(2.0 / (conv_ksz * conv_ksz * feature_dim)))
        nn.init.zeros_(self.filter_conv.bias)

    def forward(self, feat: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
        """feat (images, sequences, C, H, W), bb (images, sequences, 4) xywh -> (sequences, C, fs, fs)."""
        num_images, num_sequences = bb.shape[0], bb.shape[1]
        feat = self.filter_conv(feat.reshape(-1, *feat.shape[-3:]))
        weights = self.filter_pool(feat, boxes_to_rois(bb.reshape(-1, 4)))
        weights = weights.reshape(num_images, num_sequences, *weights.shape[1:]).mean(dim=0)
        if self.filter_norm:
            weights = weights / (weights.shape[1] * weights.shape[2] * weights.shape[3])
        return weights
