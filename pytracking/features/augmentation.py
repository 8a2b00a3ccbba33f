"""The augmentations of DiMP's first-frame sample set: each maps an expanded patch (2x the sample
size) to one sample-size patch, shifted by `shift` pixels (y, x), so the target moves by `shift`."""
import math
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F


class Transform:
    def __init__(self, output_sz: Sequence[int], shift: Sequence[int] = (0, 0)):
        self.output_sz = [int(v) for v in output_sz]
        self.shift = [int(v) for v in shift]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.crop_to_output(self.transform(image))

    def transform(self, image: torch.Tensor) -> torch.Tensor:
        return image

    def crop_to_output(self, image: torch.Tensor) -> torch.Tensor:
        """Centre crop (replicate pad where needed) to output_sz, with the content moved by shift."""
        pad_h = (self.output_sz[0] - image.shape[2]) / 2
        pad_w = (self.output_sz[1] - image.shape[3]) / 2
        pad = (math.floor(pad_w) + self.shift[1], math.ceil(pad_w) - self.shift[1],
               math.floor(pad_h) + self.shift[0], math.ceil(pad_h) - self.shift[0])
        return F.pad(image, pad, mode='replicate')


class Identity(Transform):
    pass


class Translation(Transform):
    """A pure shift (the shift is the translation)."""


class FlipHorizontal(Transform):
    def transform(self, image):
        return image.flip(3)


class Blur(Transform):
    """Separable Gaussian blur with sigma (sy, sx), radius ceil(2 sigma), zero padding."""

    def __init__(self, output_sz, sigma, shift=(0, 0)):
        super().__init__(output_sz, shift)
        self.sigma = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)

    def transform(self, image):
        for dim, sigma in enumerate(self.sigma):
            radius = math.ceil(2 * sigma)
            x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
            kernel = torch.exp(-0.5 * (x / sigma) ** 2)
            kernel = kernel / kernel.sum()
            channels = image.shape[1]
            if dim == 0:
                weight, padding = kernel.view(1, 1, -1, 1), (radius, 0)
            else:
                weight, padding = kernel.view(1, 1, 1, -1), (0, radius)
            image = F.conv2d(image, weight.expand(channels, 1, *weight.shape[2:]), padding=padding, groups=channels)
        return image


class Rotate(Transform):
    """Rotation by `angle` degrees about the patch centre (OpenCV, replicate border)."""

    def __init__(self, output_sz, angle, shift=(0, 0)):
        super().__init__(output_sz, shift)
        self.angle = angle

    def transform(self, image):
        array = image[0].permute(1, 2, 0).cpu().numpy()
        height, width = array.shape[:2]
        matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), self.angle, 1.0)
        rotated = cv2.warpAffine(array, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        return torch.from_numpy(np.ascontiguousarray(rotated)).permute(2, 0, 1).unsqueeze(0).to(image.device)
