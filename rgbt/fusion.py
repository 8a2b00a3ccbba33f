"""RGB-T feature fusion modules, applied per feature level (the paper's levels 3 and 4 = ResNet
layer2 and layer3). Every module maps (rgb, tir), two (N, C, H, W) maps, to one (N, C, H, W) map,
so the DiMP classifier and IoU-Net heads are unchanged.

- MPSD: the student's multi-path fusion (CMD paper, Eqs. 4-6).
- ConcatFusion: Student-Origin's concatenation + 1x1 conv.
- SAF / CAF: spatial- and channel-attention fusion (the Table 3 baselines).
- MDCFRSFusion: the teacher's MDC + FRS fusion of MFNet. MFNet's code and full text are not
  public: this is a RECONSTRUCTION from its abstract (reduce the RGB/TIR feature difference and
  produce fused features; re-select among the RGB, TIR and fused features), sized so that the
  teacher has about the paper's 81.0 M parameters.
"""
from typing import List, Tuple

import torch
from torch import nn


def conv1x1(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=bias)


class SpatialAttentionFusion(nn.Module):
    """sa(.) of Eq. 5: a 1x1 conv on cat(rgb, tir) gives two per-pixel reliability maps that weight
    the modalities. The paper's text says softmax, its Eq. 5 says sigmoid: `gate` picks ('softmax'
    default, so the two weights sum to one)."""

    def __init__(self, channels: int, gate: str = 'softmax'):
        super().__init__()
        if gate not in ('softmax', 'sigmoid'):
            raise ValueError(f"gate must be 'softmax' or 'sigmoid', got {gate!r}")
        self.gate = gate
        self.conv = conv1x1(2 * channels, 2)

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor) -> torch.Tensor:
        logits = self.conv(torch.cat((rgb, tir), dim=1))                       # (N, 2, H, W)
        weights = torch.softmax(logits, dim=1) if self.gate == 'softmax' else torch.sigmoid(logits)
        return rgb * weights[:, 0:1] + tir * weights[:, 1:2]


class MPSD(nn.Module):
    """Multi-path selection fusion (CMD Eqs. 4-6).

    Paths: fus1 = sa(rgb, tir) (complementarity), fus2 = rgb * tir (commonality), fus3 = rgb - tir
    (difference). Path weights w1..w3 = softmax(fc(gmp(cat(fus1, fus2, fus3)))) per sample, with two
    fully connected layers (3C -> C -> 3); output = sum_n w_n * fus_n.
    """

    def __init__(self, channels: int, gate: str = 'softmax', act_layer=nn.ReLU):
        super().__init__()
        self.spatial_attention = SpatialAttentionFusion(channels, gate)
        self.fc = nn.Sequential(nn.Linear(3 * channels, channels), act_layer(), nn.Linear(channels, 3))

    def paths(self, rgb: torch.Tensor, tir: torch.Tensor) -> List[torch.Tensor]:
        return [self.spatial_attention(rgb, tir), rgb * tir, rgb - tir]

    def forward_with_paths(self, rgb: torch.Tensor, tir: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor], torch.Tensor]:
        """Returns the fused map (N, C, H, W), the three path maps, and the weights (N, 3)."""
        paths = self.paths(rgb, tir)
        pooled = torch.amax(torch.cat(paths, dim=1), dim=(2, 3))              # global max pooling (N, 3C)
        weights = torch.softmax(self.fc(pooled), dim=1)
        fused = sum(w.view(-1, 1, 1, 1) * p for w, p in zip(weights.unbind(1), paths))
        return fused, paths, weights

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor) -> torch.Tensor:
        return self.forward_with_paths(rgb, tir)[0]


class ConcatFusion(nn.Module):
    """Student-Origin: cat(rgb, tir) -> 1x1 conv back to C channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv1x1(2 * channels, channels)

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((rgb, tir), dim=1))


class ChannelAttentionFusion(nn.Module):
    """CAF: per-channel modality weights from global average pooling of cat(rgb, tir)
    (squeeze-excitation style, 2C -> C/4 -> 2C, softmax over the two modalities per channel)."""

    def __init__(self, channels: int, reduction: int = 4, act_layer=nn.ReLU):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(2 * channels, channels // reduction), act_layer(),
                                nn.Linear(channels // reduction, 2 * channels))

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((rgb, tir), dim=1).mean(dim=(2, 3))
        weights = torch.softmax(self.fc(pooled).view(-1, 2, rgb.shape[1]), dim=1)   # (N, 2, C)
        return rgb * weights[:, 0, :, None, None] + tir * weights[:, 1, :, None, None]


class ModalityDifferenceCompensation(nn.Module):
    """MDC (RECONSTRUCTION, see module docstring): the modality difference d = rgb - tir gates how
    much of the other modality (1x1-projected) compensates each stream; the compensated streams are
    fused by a 1x1 conv + BN + ReLU. Returns (rgb', tir', fused).

    `zero_init_compensation` (default): start the cross-modal projections at zero, so that at
    initialisation each stream passes through unchanged and compensation is learnt (our choice; the
    paper is silent). With random projections a from-scratch two-stream ResNet50 teacher learnt
    far slower than with concatenation (ltr/util_scripts/teacher_diagnosis.py: training loss 13.2
    against 8.3 after 80 iterations); zero-initialised, 8.6."""

    def __init__(self, channels: int, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU,
                 zero_init_compensation: bool = True):
        super().__init__()
        self.gate = nn.Sequential(conv1x1(channels, 2 * channels, bias=False), norm_layer(2 * channels), nn.Sigmoid())
        self.tir_to_rgb = conv1x1(channels, channels, bias=False)
        self.rgb_to_tir = conv1x1(channels, channels, bias=False)
        if zero_init_compensation:
            nn.init.zeros_(self.tir_to_rgb.weight)
            nn.init.zeros_(self.rgb_to_tir.weight)
        self.fuse = nn.Sequential(conv1x1(2 * channels, channels, bias=False), norm_layer(channels), act_layer())

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor):
        gate_rgb, gate_tir = self.gate(rgb - tir).chunk(2, dim=1)
        rgb = rgb + gate_rgb * self.tir_to_rgb(tir)
        tir = tir + gate_tir * self.rgb_to_tir(rgb)
        return rgb, tir, self.fuse(torch.cat((rgb, tir), dim=1))


class FeatureReSelection(nn.Module):
    """FRS (RECONSTRUCTION): per-channel softmax weights over the three candidates (RGB, TIR, fused),
    predicted from their global average pools (3C -> C/2 -> 3C); output = the weighted sum."""

    def __init__(self, channels: int, act_layer=nn.ReLU):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(3 * channels, channels // 2), act_layer(), nn.Linear(channels // 2, 3 * channels))

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
        candidates = torch.stack((rgb, tir, fused), dim=1)                     # (N, 3, C, H, W)
        pooled = candidates.mean(dim=(3, 4)).flatten(1)                        # (N, 3C)
        weights = torch.softmax(self.fc(pooled).view(-1, 3, rgb.shape[1]), dim=1)
        return (candidates * weights[..., None, None]).sum(dim=1)


class MDCFRSFusion(nn.Module):
    """The teacher's fusion (TF): MDC then FRS (a RECONSTRUCTION of MFNet's modules)."""

    def __init__(self, channels: int, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU,
                 zero_init_compensation: bool = True):
        super().__init__()
        self.mdc = ModalityDifferenceCompensation(channels, norm_layer, act_layer, zero_init_compensation)
        self.frs = FeatureReSelection(channels, act_layer)

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor) -> torch.Tensor:
        rgb_c, tir_c, fused = self.mdc(rgb, tir)
        return self.frs(rgb_c, tir_c, fused)


FUSIONS = {'mpsd': MPSD, 'concat': ConcatFusion, 'saf': SpatialAttentionFusion, 'caf': ChannelAttentionFusion,
           'tf': MDCFRSFusion}


def create_fusion(name: str, channels: int, **kwargs) -> nn.Module:
    """A fusion module by name: mpsd, concat, saf, caf or tf."""
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}; choose from {sorted(FUSIONS)}")
    return FUSIONS[name](channels, **kwargs)
