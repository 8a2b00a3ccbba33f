"""Small building blocks with pytracking's state_dict layout."""
import torch
from torch import nn
from torchvision.models import resnet as tv_resnet


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


def _fold_pair(layer: nn.Module, norm: nn.BatchNorm2d) -> None:
    """Folds an eval-mode BatchNorm that directly follows `layer` (Conv2d or Linear) into its weights:
    bn(Wx + b) = (s W) x + s (b - mean) + beta,  s = gamma / sqrt(var + eps)."""
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale + (norm.bias if norm.affine else 0)
        if layer.bias is not None:
            shift = shift + layer.bias * scale
        weight = layer.weight * scale.reshape(-1, *([1] * (layer.weight.dim() - 1)))
    layer.weight = nn.Parameter(weight, requires_grad=layer.weight.requires_grad)
    layer.bias = nn.Parameter(shift, requires_grad=layer.weight.requires_grad)


def _foldable(layer, norm) -> bool:
    return (isinstance(layer, (nn.Conv2d, nn.Linear)) and type(norm) is nn.BatchNorm2d
            and norm.track_running_stats and norm.running_var is not None)


def fold_batch_norm(module: nn.Module) -> int:
    """Folds every BatchNorm2d that is known to directly follow a Conv2d or Linear into that layer's
    weights and replaces it by Identity; returns how many were folded. For inference only (the
    module must be in eval mode); folding twice finds nothing more to fold.

    Known pairs: consecutive entries of an nn.Sequential, torchvision ResNet stems and blocks
    (conv1/bn1, conv2/bn2, conv3/bn3) and LinearBlock (linear/bn). Attribute names alone do not say
    what feeds what in other modules, so those are left alone.
    """
    if module.training:
        raise ValueError("fold_batch_norm needs a module in eval mode (training BatchNorm uses batch statistics)")
    named_pairs = (('conv1', 'bn1'), ('conv2', 'bn2'), ('conv3', 'bn3'), ('linear', 'bn'))
    folded = 0
    for parent in list(module.modules()):
        if type(parent) is nn.Sequential:          # a subclass may override forward: neighbours need not chain
            children = list(parent)
            for index in range(len(children) - 1):
                if _foldable(children[index], children[index + 1]):
                    _fold_pair(children[index], children[index + 1])
                    parent[index + 1] = nn.Identity()
                    folded += 1
        elif isinstance(parent, (tv_resnet.ResNet, tv_resnet.BasicBlock, tv_resnet.Bottleneck, LinearBlock)):
            for layer_name, norm_name in named_pairs:
                layer, norm = getattr(parent, layer_name, None), getattr(parent, norm_name, None)
                if _foldable(layer, norm):
                    _fold_pair(layer, norm)
                    setattr(parent, norm_name, nn.Identity() if not isinstance(parent, LinearBlock) else None)
                    folded += 1
    return folded
