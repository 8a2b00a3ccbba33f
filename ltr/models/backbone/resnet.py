"""ResNet-18/50 backbones (He et al., CVPR 2016) that return intermediate layers.

State-dict keys are torchvision's (`conv1`, `bn1`, `layer1..4`, `fc`), so torchvision ImageNet
weights and pytracking DiMP checkpoints (`feature_extractor.*`) load unchanged. `forward` returns
only the requested layers and stops after the deepest one, so layer4 and fc never run in DiMP.
"""
from collections import OrderedDict
from typing import Iterable, Optional, Sequence

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

LAYER_NAMES = ('conv1', 'layer1', 'layer2', 'layer3', 'layer4', 'fc')

# Output channels and stride of each named output, per depth.
LAYER_CHANNELS = {
    'resnet18': {'conv1': 64, 'layer1': 64, 'layer2': 128, 'layer3': 256, 'layer4': 512, 'fc': 1000},
    'resnet50': {'conv1': 64, 'layer1': 256, 'layer2': 512, 'layer3': 1024, 'layer4': 2048, 'fc': 1000},
}
LAYER_STRIDES = {'conv1': 2, 'layer1': 4, 'layer2': 8, 'layer3': 16, 'layer4': 32}
# The input normalisation the ImageNet weights expect (RGB, images in [0, 1]); training crops and
# tracking samples are both normalised with it.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNet(tv_resnet.ResNet):
    """torchvision's ResNet whose forward returns an OrderedDict of the requested layers.

    `conv1` means the stem output after BN and ReLU (before max pooling), as in pytracking.
    """

    def __init__(self, block, layers: Sequence[int], name: str):
        super().__init__(block, list(layers))
        self.name = name
        self.layer_channels = LAYER_CHANNELS[name]
        self.frozen_modules = []          # set by freeze_layers; kept in eval mode by train()

    def train(self, mode: bool = True) -> 'ResNet':
        """As nn.Module.train, but frozen layers stay in eval mode: their BatchNorm layers normalise
        with, and never update, their running statistics, so a frozen layer is frozen entirely."""
        super().train(mode)
        for module in self.frozen_modules:
            module.eval()
        return self

    def forward(self, x: torch.Tensor, output_layers: Optional[Iterable[str]] = None) -> 'OrderedDict[str, torch.Tensor]':
        wanted = list(output_layers) if output_layers is not None else ['layer3']
        unknown = [n for n in wanted if n not in LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown ResNet output layers {unknown}; choose from {LAYER_NAMES}")
        last = max(LAYER_NAMES.index(n) for n in wanted)
        outputs = OrderedDict()
        x = self.relu(self.bn1(self.conv1(x)))
        stages = [('conv1', None), ('layer1', self.layer1), ('layer2', self.layer2),
                  ('layer3', self.layer3), ('layer4', self.layer4)]
        for index, (stage_name, stage) in enumerate(stages):
            if stage_name == 'layer1':
                x = self.maxpool(x)
            if stage is not None:
                x = stage(x)
            if stage_name in wanted:
                outputs[stage_name] = x
            if index == last:
                return outputs
        x = torch.flatten(self.avgpool(x), 1)
        outputs['fc'] = self.fc(x)
        return outputs


_ARCHS = {
    'resnet18': (tv_resnet.BasicBlock, (2, 2, 2, 2), tv_resnet.ResNet18_Weights),
    'resnet50': (tv_resnet.Bottleneck, (3, 4, 6, 3), tv_resnet.ResNet50_Weights),
}


def load_imagenet_weights(model: nn.Module, name: str) -> None:
    """Load torchvision's ImageNet weights (IMAGENET1K_V1, the weights pytracking used)."""
    weights = _ARCHS[name][2].IMAGENET1K_V1
    try:
        state_dict = weights.get_state_dict(progress=True)
    except OSError as err:  # URLError and socket errors are OSErrors: no network or no cache
        raise RuntimeError(
            f"Could not obtain the ImageNet weights for {name} ({weights.url}): {err}. "
            f"Put the file into the torch hub cache ({torch.hub.get_dir()}/checkpoints/), "
            f"or build the network with backbone_pretrained=False.") from err
    model.load_state_dict(state_dict)


def _resnet(name: str, pretrained: bool = False, frozen_layers: Iterable[str] = ()) -> ResNet:
    block, layers, _ = _ARCHS[name]
    model = ResNet(block, layers, name)
    if pretrained:
        load_imagenet_weights(model, name)
    freeze_layers(model, frozen_layers)
    return model


def freeze_layers(model: ResNet, layer_names: Iterable[str]) -> None:
    """Freezes the named layers ('conv1' covers conv1 and bn1; 'all' freezes everything): no
    gradients, and BatchNorm statistics fixed (stopping the gradients alone would leave a frozen
    layer's running statistics drifting in training mode)."""
    for layer_name in layer_names:
        if layer_name == 'all':
            modules = list(model.children())
        elif layer_name == 'conv1':
            modules = [model.conv1, model.bn1]
        else:
            modules = [getattr(model, layer_name)]
        for module in modules:
            module.requires_grad_(False)
            model.frozen_modules.append(module)
    model.train(model.training)


def resnet18(pretrained: bool = False, frozen_layers: Iterable[str] = ()) -> ResNet:
    """ResNet-18 backbone; `pretrained` loads torchvision's ImageNet weights."""
    return _resnet('resnet18', pretrained, frozen_layers)


def resnet50(pretrained: bool = False, frozen_layers: Iterable[str] = ()) -> ResNet:
    """ResNet-50 backbone; `pretrained` loads torchvision's ImageNet weights."""
    return _resnet('resnet50', pretrained, frozen_layers)
