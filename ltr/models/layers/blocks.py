"""Small building blocks with pytracking's state_dict layout."""
import torch
from torch import nn


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 dilation: int = 1) -> nn.Sequential:
    """Conv2d (with bias) + BatchNorm2d + ReLU; keys `0.weight`, `0.bias`, `1.*`."""
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=True),
        nn.BatchNorm2d(out_planes),
        nn.ReLU(inplace=True))


class LinearBlock(nn.Module):
    """Fully connected layer over a (N, C, S, S) map, then BatchNorm and ReLU; output (N, out_planes)."""

    def __init__(self, in_planes: int, out_planes: int, input_sz: int, bias: bool = True,
                 batch_norm: bool = True, relu: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_planes * input_sz * input_sz, out_planes, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes) if batch_norm else None
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x.reshape(x.shape[0], -1))
        if self.bn is not None:
            x = self.bn(x.reshape(x.shape[0], x.shape[1], 1, 1))
        if self.relu is not None:
            x = self.relu(x)
        return x.reshape(x.shape[0], -1)
