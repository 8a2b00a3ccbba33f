"""DiMP's steepest-descent filter optimiser with learned loss parameters (DiMP paper, Sec. 3.1-3.3).

Minimises over the filter w
    L(w) = 1/N sum_n || v_n * (r(x_n * w, m_n) - y_n) ||^2 + lambda ||w||^2          (DiMP Eq. 1-4)
with a label y, target mask m and spatial weight v that are predicted from the distance of each
score-map cell to the target centre, and takes Gauss-Newton steps with the closed-form step length
alpha = ||g||^2 / (||J g||^2 + lambda ||g||^2)                                        (DiMP Eq. 5-6).
"""
import math

import torch
from torch import nn

from ltr.models.layers.activation import masked_score_activation, masked_score_activation_derivative
from ltr.models.layers.distance import DistanceMap
from ltr.models.target_classifier.filter import apply_filter, apply_feat_transpose


class DiMPSteepestDescentGN(nn.Module):
    """Steepest descent with Gauss-Newton step length.

    Args:
        num_iter: default number of iterations.
        feat_stride: image pixels per score cell.
        init_step_length: initial beta (stored as log).
        init_filter_reg: initial sqrt(lambda).
        init_gauss_sigma: sigma (in score cells) of the initial label bins.
        num_dist_bins, bin_displacement: distance encoding.
        mask_init_factor: initial mask weights mask_init_factor * tanh(2 - d).
        score_act: 'relu' (the masked hinge of DiMP Eq. 4).
        mask_act: 'sigmoid' or 'linear'.
        detach_length: detach the filter from the graph every this many iterations.
        alpha_eps: added to lambda in the step-length denominator.
    """

    def __init__(self, num_iter: int = 1, feat_stride: int = 16, init_step_length: float = 1.0,
                 init_filter_reg: float = 1e-2, init_gauss_sigma: float = 1.0, num_dist_bins: int = 5,
                 bin_displacement: float = 1.0, mask_init_factor: float = 4.0, score_act: str = 'relu',
                 act_param=None, min_filter_reg: float = 1e-3, mask_act: str = 'sigmoid',
                 detach_length: float = float('inf'), alpha_eps: float = 0.0):
        super().__init__()
        if score_act != 'relu':
            raise ValueError(f"score_act {score_act!r} is not implemented; DiMP-18/50 use 'relu'")
        if mask_act not in ('sigmoid', 'linear'):
            raise ValueError(f"mask_act must be 'sigmoid' or 'linear', got {mask_act!r}")
        self.num_iter = num_iter
        self.feat_stride = feat_stride
        self.log_step_length = nn.Parameter(math.log(init_step_length) * torch.ones(1))
        self.filter_reg = nn.Parameter(init_filter_reg * torch.ones(1))
        self.distance_map = DistanceMap(num_dist_bins, bin_displacement)
        self.min_filter_reg = min_filter_reg
        self.detach_length = detach_length
        self.alpha_eps = alpha_eps

        distances = torch.arange(num_dist_bins, dtype=torch.float32).view(1, -1, 1, 1) * bin_displacement
        label_init = torch.exp(-0.5 * (distances / init_gauss_sigma) ** 2)
        self.label_map_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        self.label_map_predictor.weight.data = label_init - label_init.min()

        mask_layers = [nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)]
        mask_offset = 0.0
        if mask_act == 'sigmoid':
            mask_layers.append(nn.Sigmoid())
        else:
            mask_offset = 0.5
        self.target_mask_predictor = nn.Sequential(*mask_layers)
        self.target_mask_predictor[0].weight.data = mask_init_factor * torch.tanh(2.0 - distances) + mask_offset

        self.spatial_weight_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        self.spatial_weight_predictor.weight.data.fill_(1.0)

    def loss_maps(self, bb: torch.Tensor, num_images: int, num_sequences: int, output_sz, filter_size):
        """Label y, target mask m and spatial weight v, each (images, sequences, Ho, Wo)."""
        center = (bb[..., :2] + bb[..., 2:] / 2) / self.feat_stride           # (x, y) in score cells
        # Python-scalar offsets: a tensor built here would be copied from the host at every update.
        offset_x, offset_y = (filter_size[1] % 2) / 2, (filter_size[0] % 2) / 2
        center = torch.stack((center[..., 1] - offset_y, center[..., 0] - offset_x), dim=-1).reshape(-1, 2)  # (y, x)
        dist_map = self.distance_map(center, output_sz)
        shape = (num_images, num_sequences, output_sz[0], output_sz[1])
        label = self.label_map_predictor(dist_map).reshape(shape)
        mask = self.target_mask_predictor(dist_map).reshape(shape)
        spatial_weight = self.spatial_weight_predictor(dist_map).reshape(shape)
        return label, mask, spatial_weight

    def forward(self, weights: torch.Tensor, feat: torch.Tensor, bb: torch.Tensor, sample_weight=None,
                num_iter=None, compute_losses: bool = True):
        """Runs the iterations.

        Args:
            weights: initial filter (sequences, C, fH, fW).
            feat: training features (images, sequences, C, H, W).
            bb: target boxes xywh in image pixels (images, sequences, 4).
            sample_weight: None (1/N each) or per-sample weights (images,) or (images, sequences).
        Returns:
            final filter, list of filters (initial + one per iteration), list of losses.
        """
        num_iter = self.num_iter if num_iter is None else num_iter
        num_images, num_sequences = feat.shape[0], feat.shape[1]
        filter_size = (weights.shape[-2], weights.shape[-1])
        output_sz = (feat.shape[-2] + (filter_size[0] + 1) % 2, feat.shape[-1] + (filter_size[1] + 1) % 2)

        step_length = torch.exp(self.log_step_length)
        reg_weight = (self.filter_reg * self.filter_reg).clamp(min=self.min_filter_reg ** 2)
        label, mask, spatial_weight = self.loss_maps(bb, num_images, num_sequences, output_sz, filter_size)
        if sample_weight is None:
            sample_weight = math.sqrt(1.0 / num_images) * spatial_weight
        else:
            sample_weight = sample_weight.sqrt().reshape(num_images, -1, 1, 1) * spatial_weight

        def loss(w, scores_act):
            residuals = sample_weight * (scores_act - label)
            return ((residuals ** 2).sum() + reg_weight * (w ** 2).sum()) / num_sequences

        iterates, losses = [weights], []
        for i in range(num_iter):
            if i > 0 and i % self.detach_length == 0:
                weights = weights.detach()
            scores = apply_filter(feat, weights)
            scores_act = masked_score_activation(scores, mask)
            score_deriv = masked_score_activation_derivative(scores, mask)
            if compute_losses:
                losses.append(loss(weights, scores_act))
            residuals = sample_weight * (scores_act - label)
            weights_grad = apply_feat_transpose(feat, score_deriv * sample_weight * residuals, filter_size) \
                + reg_weight * weights
            scores_grad = sample_weight * (score_deriv * apply_filter(feat, weights_grad))
            alpha_num = (weights_grad * weights_grad).sum(dim=(1, 2, 3))
            alpha_den = ((scores_grad * scores_grad).reshape(num_images, num_sequences, -1).sum(dim=(0, 2))
                         + (reg_weight + self.alpha_eps) * alpha_num).clamp(min=1e-8)
            alpha = alpha_num / alpha_den
            weights = weights - (step_length * alpha.view(-1, 1, 1, 1)) * weights_grad
            iterates.append(weights)

        if compute_losses:
            losses.append(loss(weights, masked_score_activation(apply_filter(feat, weights), mask)))
        return weights, iterates, losses
