from .resnet import ResNet, resnet18, resnet50, LAYER_CHANNELS, LAYER_STRIDES
