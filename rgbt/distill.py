"""Cross-modality distillation losses of CMD (paper Sec. 3.3-3.6).

- SCFD (Eqs. 1-3): teacher features made modality-specific (SEM, levels 1-3) and modality-common
  (CEM, level 4); the student's per-modality features are mapped to the teacher's channels by a
  review chain of ABF modules (ReviewKD) and regressed to them with MSE.
- MPSD loss (Eqs. 7-11): MSE between the fused features, plus the path-selection penalty L_p.
- HFRD (Eqs. 12-13): the student's response, masked by the teacher's response corrected with the
  Gaussian label, regressed to the label with an L2 loss.
- Total (Eq. 14): alpha (L_SCFD + L_MPSD) + beta L_HFRD + L_original.

Choices where the paper is silent (each a setting of CMDDistillLoss):
- ABF chains: one per modality (`shared_abf=False`, following Fig. 5's "the same architecture" for
  TIR); mid channels 128.
- Teacher features are the post-ReLU ResNet outputs (what the DiMP heads consume).
- HFRD uses the final filter iterate's response (`hfrd_iterate=-1`), on the test frames.
- L_p keeps the gradient through L_fus,lambda (the paper's formula as written).
- l(.) of Eqs. 3, 7 and 8 is "the standard MSE loss used in [21]". Three readings are settings
  (`reduction`): FitNets' 1/2 ||u - r(v)||^2 summed over channels and positions per sample ('sum'),
  summed over channels and averaged over positions ('channel_sum', the default), and the
  per-element mean ('mean'); each is averaged over the batch. Measured at 288x288 crops with a
  trained miniature teacher and a fresh student (docs/distillation.md), with alpha = 0.001: under
  'sum' the feature terms take 98.7% of the student's gradient and L_original 1.3% (swamped);
  under 'mean' every feature term is below 0.1% (inert); 'channel_sum' keeps L_original at 81%
  with L_fus 3%, L_p 9% and HFRD 6%, but leaves SCFD at 0.2%. None of the three makes every
  term act at the paper's alpha; 'channel_sum' is the default because it is the only one where
  L_original stays the main term and the MPSD and HFRD terms act.
- HFRD's r(.) is "the L_2 loss function [5]" ([5] is ATOM); we take a per-element mean, whatever
  `reduction` says.
- SCFD's targets are products of teacher features, so their scale grows with depth (per-level
  l(.) of 71 / 1519 / 5055 / 32534 for a miniature teacher, docs/distillation.md) while the review
  chain's outputs leave a BatchNorm at unit scale. `scfd_target_norm='channel_std'` divides each
  level's target by its per-channel standard deviation over batch and positions (detached), so
  every level starts at unit scale; 'none' (default) is the paper as written. Our setting.
- The student's fused features (128 / 256 channels) are compared with the teacher's (512 / 1024)
  through one 1x1 convolution per level (training only, no BatchNorm: batch statistics would make
  it a different function for each input), applied to the fused feature and to each MPSD path in
  one call, so that Eq. 8 picks the path closest to the teacher in one space.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rgbt.nets import DISTILL_LAYERS, FUSED_LAYERS


def sem(ft_rgb: torch.Tensor, ft_tir: torch.Tensor):
    """Specific Enhanced Module (Eq. 1): fe_rgb = rgb*tir + (rgb - tir), fe_tir = rgb*tir + (tir - rgb)."""
    common = ft_rgb * ft_tir
    return common + (ft_rgb - ft_tir), common + (ft_tir - ft_rgb)


def cem(ft_rgb: torch.Tensor, ft_tir: torch.Tensor) -> torch.Tensor:
    """Consistence Enhanced Module (Eq. 2): fc = rgb*tir + (rgb + tir)."""
    return ft_rgb * ft_tir + (ft_rgb + ft_tir)


SCFD_TARGETS = ('scfd', 'afd', 'sed', 'ced', 'reviewkd')


def distillation_targets(kind: str, level: int, ft_rgb: torch.Tensor, ft_tir: torch.Tensor):
    """The teacher's targets (for the RGB and the TIR student features) at level 1-4.

    'scfd' (Eq. 3): SEM at levels 1-3, CEM at level 4. Table 2's variants, the same at every level:
    'afd' element-wise addition rgb + tir, 'sed' SEM, 'ced' CEM. 'reviewkd' (Table 4's ReviewKD baseline
    on the one-stream student): each modality's own teacher features, no cross-modal interaction."""
    if kind == 'reviewkd':
        return ft_rgb, ft_tir
    if kind == 'afd':
        added = ft_rgb + ft_tir
        return added, added
    if kind == 'sed' or (kind == 'scfd' and level < 4):
        return sem(ft_rgb, ft_tir)
    if kind in ('ced', 'scfd'):
        common = cem(ft_rgb, ft_tir)
        return common, common
    raise ValueError(f"SCFD targets must be one of {SCFD_TARGETS}, got {kind!r}")


class ABF(nn.Module):
    """Attention-based fusion of ReviewKD (Chen et al., CVPR 2021): 1x1 conv to `mid` channels,
    optional per-pixel gated fusion with the (nearest-upsampled) residual of the next deeper level,
    3x3 conv to the teacher's channels. Returns (output, residual for the next shallower level)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels))
        self.conv2 = nn.Sequential(nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels))
        self.att_conv = nn.Sequential(nn.Conv2d(2 * mid_channels, 2, 1), nn.Sigmoid()) if fuse else None
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None):
        x = self.conv1(x)
        if self.att_conv is not None:
            residual = F.interpolate(residual, size=x.shape[-2:], mode='nearest')
            gates = self.att_conv(torch.cat((x, residual), dim=1))
            x = x * gates[:, 0:1] + residual * gates[:, 1:2]
        return self.conv2(x), x


class ReviewChain(nn.Module):
    """ABFs over the student levels, run deepest first; outputs come back shallow to deep, each with
    the teacher's channels at that level."""

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], mid_channels: int):
        super().__init__()
        last = len(in_channels) - 1
        self.abfs = nn.ModuleList(ABF(i, mid_channels, o, fuse=index < last)
                                  for index, (i, o) in enumerate(zip(in_channels, out_channels)))

    def forward(self, features: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        outputs, residual = [], None
        for abf, feat in zip(reversed(self.abfs), reversed(features)):
            out, residual = abf(feat, residual)
            outputs.insert(0, out)
        return outputs


PAPER_ALPHA, PAPER_BETA = 1e-3, 100.0     # Eq. 14's weights, as the paper gives them
REDUCTIONS = ('sum', 'channel_sum', 'mean')
TARGET_NORMS = ('none', 'channel_std')
# Defaults of the loss's other settings, here once: TrainConfig's fields default to these too.
PAPER_TARGET_NORM = 'none'                 # SCFD's targets as Eq. 3 gives them
ABF_MID_CHANNELS = 128                     # ours (ReviewKD's width)
FINAL_ITERATE = -1                         # HFRD on the filter optimiser's final response


def normalise_target(target: torch.Tensor, norm: str, eps: float = 1e-6) -> torch.Tensor:
    """SCFD target scaling: 'none', or 'channel_std' = target / its per-channel std over (N, H, W),
    the std detached (a fixed scale, not something the loss can shrink)."""
    if norm == 'none':
        return target
    if norm == 'channel_std':
        scale = target.detach().flatten(2).transpose(0, 1).flatten(1).std(dim=1)      # (C,)
        return target / (scale[None, :, None, None] + eps)
    raise ValueError(f"scfd_target_norm must be one of {TARGET_NORMS}, got {norm!r}")
DEFAULT_REDUCTION = 'channel_sum'          # measured choice, see the module docstring


def per_sample_mse(student: torch.Tensor, target: torch.Tensor, reduction: str = DEFAULT_REDUCTION) -> torch.Tensor:
    """l(.) per sample, (N, C, H, W) -> (N,): 'sum' = 1/2 sum of squared differences over channels and
    positions (FitNets [21]); 'channel_sum' = 1/2 sum over channels, mean over positions; 'mean' =
    mean over channels and positions."""
    squared = (student - target).pow(2)
    if reduction == 'sum':
        return 0.5 * squared.flatten(1).sum(dim=1)
    if reduction == 'channel_sum':
        return 0.5 * squared.sum(dim=1).flatten(1).mean(dim=1)
    if reduction == 'mean':
        return squared.flatten(1).mean(dim=1)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def feature_mse(student: torch.Tensor, target: torch.Tensor, reduction: str = DEFAULT_REDUCTION) -> torch.Tensor:
    """l(.) of Eqs. 3 and 7, averaged over the batch."""
    return per_sample_mse(student, target, reduction).mean()


class CMDDistillLoss(nn.Module):
    """The distillation terms of CMD with their training-only adapters (the ABF review chains).

    Args:
        student_channels, teacher_channels: channels at levels 1-4 (conv1, layer1, layer2, layer3).
        use_scfd, use_mpsd, use_hfrd: which terms are on (the Table 1 rows).
        alpha, beta: Eq. 14 weights (0.001 and 100 in the paper).
        mid_channels: ABF width.
        shared_abf: one review chain for both modalities instead of one each.
        hfrd_iterate: which filter iterate's response HFRD uses (-1: the final one).
        reduction: l(.)'s reduction: 'sum' (FitNets), 'channel_sum' (default) or 'mean' (see the
            module docstring).
        scfd_targets: the teacher targets of SCFD, 'scfd' (Eq. 3) or Table 2's 'afd' / 'sed' / 'ced'
            (see distillation_targets).
        fusion_layers: the levels of L_fus (layer2 and layer3; Table 4's FitNets: layer3 alone).
        scfd_target_norm: 'none' (paper) or 'channel_std' (each level's target at unit scale; our
            setting, see the module docstring).
        use_kd: Table 4's KD baseline for a response map: the student's final score map regressed
            to the teacher's with a per-element MSE, weighted by beta (DiMP's scores are not class
            logits, so Hinton's softened softmax has no direct counterpart; our reading).
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int], use_scfd: bool = True,
                 use_mpsd: bool = True, use_hfrd: bool = True, alpha: float = PAPER_ALPHA, beta: float = PAPER_BETA,
                 mid_channels: int = ABF_MID_CHANNELS, shared_abf: bool = False, hfrd_iterate: int = FINAL_ITERATE,
                 reduction: str = DEFAULT_REDUCTION, scfd_targets: str = 'scfd',
                 fusion_layers: Sequence[str] = FUSED_LAYERS, use_kd: bool = False,
                 scfd_target_norm: str = PAPER_TARGET_NORM):
        super().__init__()
        if scfd_target_norm not in TARGET_NORMS:
            raise ValueError(f"scfd_target_norm must be one of {TARGET_NORMS}, got {scfd_target_norm!r}")
        self.scfd_target_norm = scfd_target_norm
        self.fusion_layers = tuple(fusion_layers)
        self.use_kd = use_kd
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if scfd_targets not in SCFD_TARGETS:
            raise ValueError(f"scfd_targets must be one of {SCFD_TARGETS}, got {scfd_targets!r}")
        self.scfd_targets = scfd_targets
        self.use_scfd, self.use_mpsd, self.use_hfrd = use_scfd, use_mpsd, use_hfrd
        self.alpha, self.beta = alpha, beta
        self.reduction = reduction
        self.hfrd_iterate = hfrd_iterate
        self.shared_abf = shared_abf
        if use_scfd:
            self.review_rgb = ReviewChain(student_channels, teacher_channels, mid_channels)
            self.review_tir = self.review_rgb if shared_abf else ReviewChain(student_channels, teacher_channels, mid_channels)
        if use_mpsd:
            channels = dict(zip(DISTILL_LAYERS, zip(student_channels, teacher_channels)))
            self.fused_adapters = nn.ModuleDict({
                layer: nn.Conv2d(channels[layer][0], channels[layer][1], 1) for layer in FUSED_LAYERS})

    def l(self, student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The paper's l(.) with this loss's reduction."""
        return feature_mse(student, target, self.reduction)

    def scfd(self, student: Dict, teacher: Dict) -> torch.Tensor:
        """Eq. 3: L_spe over levels 1-3 (SEM targets) + L_com at level 4 (CEM target), both modalities
        (other targets with `scfd_targets`, Table 2)."""
        fu_rgb = self.review_rgb([student['rgb'][layer] for layer in DISTILL_LAYERS])
        fu_tir = self.review_tir([student['tir'][layer] for layer in DISTILL_LAYERS])
        loss = 0.0
        for level, layer in enumerate(DISTILL_LAYERS, start=1):
            target_rgb, target_tir = distillation_targets(self.scfd_targets, level, teacher['rgb'][layer],
                                                          teacher['tir'][layer])
            target_rgb = normalise_target(target_rgb, self.scfd_target_norm)
            target_tir = normalise_target(target_tir, self.scfd_target_norm)
            loss = loss + self.l(fu_rgb[level - 1], target_rgb) + self.l(fu_tir[level - 1], target_tir)
        return loss

    def adapt(self, layer: str, features: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """The level's adapter applied to several student maps in one call (one function for all)."""
        adapted = self.fused_adapters[layer](torch.cat(list(features), dim=0))
        return list(adapted.split([f.shape[0] for f in features], dim=0))

    def fusion_and_path_terms(self, student: Dict, teacher: Dict):
        """Eq. 7 L_fus and Eqs. 8-10 L_p (None without MPSD paths), from one adapter call per level.

        L_p per sample: lambda = the path closest to the teacher's fused feature, nu = the path the
        student weights most; |L_lambda * w_nu - L_lambda * w_lambda|, averaged over samples, summed
        over levels."""
        fusion, penalty = 0.0, None
        for layer in self.fusion_layers:
            target = teacher['fused'][layer]
            paths, weights = student['paths'].get(layer, ([], None))
            adapted = self.adapt(layer, [student['fused'][layer], *paths])
            fusion = fusion + self.l(adapted[0], target)
            if not paths:
                continue
            per_path = torch.stack([per_sample_mse(p, target, self.reduction) for p in adapted[1:]], dim=1)  # (N, 3)
            loss_lambda, lam = per_path.min(dim=1)
            w_nu = weights.max(dim=1).values
            w_lambda = weights.gather(1, lam[:, None]).squeeze(1)
            level_penalty = (loss_lambda * w_nu - loss_lambda * w_lambda).abs().mean()
            penalty = level_penalty if penalty is None else penalty + level_penalty
        return fusion, penalty

    def hfrd(self, student_scores: torch.Tensor, teacher_scores: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Eqs. 12-13: R_c = R_t + R_g where that is below 1, else R_g; loss = mean (R_s * R_c - R_g)^2."""
        corrected = teacher_scores + label
        corrected = torch.where(corrected < 1, corrected, label)
        return F.mse_loss(student_scores * corrected, label)

    def forward(self, student: Dict, teacher: Dict, student_scores: Sequence[torch.Tensor],
                teacher_scores: Sequence[torch.Tensor], test_label: torch.Tensor):
        """Returns (weighted distillation loss, dict of the unweighted terms)."""
        terms = {}
        if self.use_scfd:
            terms['scfd'] = self.scfd(student, teacher)
        if self.use_mpsd:
            terms['mpsd_fus'], penalty = self.fusion_and_path_terms(student, teacher)
            if penalty is not None:
                terms['mpsd_p'] = penalty
        if self.use_hfrd:
            terms['hfrd'] = self.hfrd(student_scores[self.hfrd_iterate], teacher_scores[self.hfrd_iterate], test_label)
        if self.use_kd:
            terms['kd'] = F.mse_loss(student_scores[-1], teacher_scores[-1])
        response_terms = ('hfrd', 'kd')
        feature_terms = sum(v for k, v in terms.items() if k not in response_terms)
        total = self.alpha * feature_terms + self.beta * sum(terms.get(k, 0.0) for k in response_terms)
        return total, terms
