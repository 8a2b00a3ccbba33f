"""Transforms of RGB-T training samples.

Joint transforms act on the full frames of one sample (all train and test frames of both
modalities) before cropping: geometric ones (flip) draw one set of parameters for everything, so
RGB and TIR stay aligned; photometric ones may treat the modalities differently (grayscale only
applies to RGB). The tensor transform turns each crop into a normalised tensor, with brightness
jitter drawn per crop. Every random draw uses the numpy Generator passed in (no global state).
"""
from typing import List

import numpy as np
import torch

from ltr.models.backbone.resnet import IMAGENET_MEAN, IMAGENET_STD

Frames = List[np.ndarray]


class ToGrayscale:
    """With `probability`, converts all RGB frames of the sample to grey (replicated to 3 channels)."""

    def __init__(self, probability: float = 0.05):
        self.probability = probability

    def __call__(self, rgb, tir, boxes, rng):
        if rng.random() < self.probability:
            rgb = [np.repeat((f @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[:, :, None], 3, axis=2) for f in rgb]
        return rgb, tir, boxes


class RandomHorizontalFlip:
    """With `probability`, mirrors every frame of both modalities and their boxes (x' = W - x - w)."""

    def __init__(self, probability: float = 0.5):
        self.probability = probability

    def __call__(self, rgb, tir, boxes, rng):
        if rng.random() >= self.probability:
            return rgb, tir, boxes
        flipped = []
        for frame, box in zip(rgb, boxes):
            box = box.clone()
            box[0] = frame.shape[1] - box[0] - box[2]
            flipped.append(box)
        return ([np.ascontiguousarray(f[:, ::-1]) for f in rgb], [np.ascontiguousarray(f[:, ::-1]) for f in tir],
                flipped)


class ToTensorAndJitter:
    """HxWx3 uint8 -> (3, H, W) float: brightness factor U(1 - b, 1 + b) per crop, /255, clamp to
    [0, 1], ImageNet normalisation (thermal is normalised like RGB, as in mfDiMP)."""

    def __init__(self, brightness_jitter: float = 0.0, normalize: bool = True):
        self.brightness_jitter = brightness_jitter
        self.normalize = normalize
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __call__(self, image: np.ndarray, rng) -> torch.Tensor:
        factor = 1.0
        if self.brightness_jitter > 0:
            factor = rng.uniform(1 - self.brightness_jitter, 1 + self.brightness_jitter)
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() * (factor / 255.0)
        tensor = tensor.clamp(0.0, 1.0)
        return (tensor - self.mean) / self.std if self.normalize else tensor
