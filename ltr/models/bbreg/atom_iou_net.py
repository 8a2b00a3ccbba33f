"""IoU-Net box regressor of ATOM (Danelljan et al., "ATOM: Accurate Tracking by Overlap
Maximization", CVPR 2019), as used by DiMP.

A reference branch turns the reference frame and its box into modulation vectors (one per feature
level); the test branch scales the test features channel-wise by them, pools each proposal box
with PrRoIPool and predicts its IoU with the target.
"""
from typing import List, Sequence, Tuple

import torch
from torch import nn

from ltr.models.layers.blocks import LinearBlock, conv_bn_relu
from ltr.models.layers.prroi_pool import PooledBoxes, PrRoIPool2D
from ltr.models.target_classifier.initializer import boxes_to_rois


class AtomIoUNet(nn.Module):
    """Args:
        input_dim: channels of the two backbone levels (layer2, layer3): (128, 256) for ResNet18,
            (512, 1024) for ResNet50.
        pred_input_dim: channels of the modulated test features per level.
        pred_inter_dim: width of the fully connected layers per level.
    """

    def __init__(self, input_dim: Sequence[int] = (128, 256), pred_input_dim: Sequence[int] = (256, 256),
                 pred_inter_dim: Sequence[int] = (256, 256)):
        super().__init__()
        # Registration order gives pytracking's state_dict key order.
        self.conv3_1r = conv_bn_relu(input_dim[0], 128, kernel_size=3, stride=1)
        self.conv3_1t = conv_bn_relu(input_dim[0], 256, kernel_size=3, stride=1)
        self.conv3_2t = conv_bn_relu(256, pred_input_dim[0], kernel_size=3, stride=1)
        self.prroi_pool3r = PrRoIPool2D(3, 3, 1 / 8)
        self.prroi_pool3t = PrRoIPool2D(5, 5, 1 / 8)
        self.fc3_1r = conv_bn_relu(128, 256, kernel_size=3, stride=1, padding=0)
        self.conv4_1r = conv_bn_relu(input_dim[1], 256, kernel_size=3, stride=1)
        self.conv4_1t = conv_bn_relu(input_dim[1], 256, kernel_size=3, stride=1)
        self.conv4_2t = conv_bn_relu(256, pred_input_dim[1], kernel_size=3, stride=1)
        self.prroi_pool4r = PrRoIPool2D(1, 1, 1 / 16)
        self.prroi_pool4t = PrRoIPool2D(3, 3, 1 / 16)
        self.fc34_3r = conv_bn_relu(256 + 256, pred_input_dim[0], kernel_size=1, stride=1, padding=0)
        self.fc34_4r = conv_bn_relu(256 + 256, pred_input_dim[1], kernel_size=1, stride=1, padding=0)
        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)

        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode='fan_in')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                # U(0, 1) BN weights on purpose: the initialisation of PyTorch <= 1.1 that ATOM was trained with.
                nn.init.uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, feat1: List[torch.Tensor], feat2: List[torch.Tensor], bb1: torch.Tensor,
                proposals2: torch.Tensor) -> torch.Tensor:
        """Training forward.

        Args:
            feat1: reference features per level, (images, sequences, C, H, W) or flattened; only
                image 0 is used.
            feat2: test features per level, same layout.
            bb1: reference boxes xywh (images, sequences, 4).
            proposals2: test proposals xywh (images, sequences, P, 4).
        Returns:
            predicted IoU (images, sequences, P).
        """
        num_images, num_sequences = proposals2.shape[0], proposals2.shape[1]
        feat1 = [f.reshape(-1, num_sequences, *f.shape[-3:])[0] for f in feat1]
        modulation = self.get_modulation(feat1, bb1[0])
        iou_feat = self.get_iou_feat(feat2)
        modulation = [m.reshape(1, num_sequences, -1).expand(num_images, -1, -1).reshape(num_images * num_sequences, -1)
                      for m in modulation]
        proposals2 = proposals2.reshape(num_images * num_sequences, -1, 4)
        return self.predict_iou(modulation, iou_feat, proposals2).reshape(num_images, num_sequences, -1)

    def get_modulation(self, feat: Sequence[torch.Tensor], bb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Reference features (layer2, layer3) (B, C, H, W) and boxes xywh (B, 4) -> two (B, 256, 1, 1) vectors."""
        feat3_r, feat4_r = feat
        rois = boxes_to_rois(bb.reshape(-1, 4))
        fc3_r = self.fc3_1r(self.prroi_pool3r(self.conv3_1r(feat3_r), rois))
        roi4_r = self.prroi_pool4r(self.conv4_1r(feat4_r), rois)
        fc34_r = torch.cat((fc3_r, roi4_r), dim=1)
        return self.fc34_3r(fc34_r), self.fc34_4r(fc34_r)

    def get_iou_feat(self, feat2: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Test features per level -> (c3_t, c4_t), flattened to (B, C, H, W)."""
        feat3_t, feat4_t = [f.reshape(-1, *f.shape[-3:]) for f in feat2]
        return self.conv3_2t(self.conv3_1t(feat3_t)), self.conv4_2t(self.conv4_1t(feat4_t))

    def predict_iou(self, modulation, feat, proposals: torch.Tensor) -> torch.Tensor:
        """Modulation vectors (B, 256[,1,1]) x2, IoU features (B, C, H, W) x2, proposals xywh (B, P, 4) -> (B, P)."""
        return self.predict_iou_modulated(self.modulate(modulation, feat), proposals)

    @staticmethod
    def modulate(modulation, feat) -> Tuple[torch.Tensor, torch.Tensor]:
        """Test features scaled channel-wise by the reference's modulation vectors, (B, C, H, W) x2.
        The tracker computes them once per frame for all its refinement steps."""
        return tuple((f * m.reshape(f.shape[0], -1, 1, 1)).contiguous() for f, m in zip(feat, modulation))

    def predict_iou_modulated(self, modulated, proposals: torch.Tensor) -> torch.Tensor:
        """Modulated features (B, C, H, W) x2 and proposals xywh (B, P, 4) -> predicted IoU (B, P)."""
        c3_t_att, c4_t_att = modulated
        batch_size, num_proposals = c3_t_att.shape[0], proposals.shape[1]
        batch_index = torch.arange(batch_size, dtype=proposals.dtype, device=proposals.device)
        batch_index = batch_index.view(-1, 1, 1).expand(-1, num_proposals, 1)
        rois = torch.cat((batch_index, proposals[..., :2], proposals[..., :2] + proposals[..., 2:]), dim=2).reshape(-1, 5)
        fc3_rt = self.fc3_rt(self.prroi_pool3t(c3_t_att, rois))
        fc4_rt = self.fc4_rt(self.prroi_pool4t(c4_t_att, rois))
        return self.iou_predictor(torch.cat((fc3_rt, fc4_rt), dim=1)).reshape(batch_size, num_proposals)

    def predict_iou_and_box_gradient(self, modulated, boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """For the modulated features of one image ((1, C, H, W) x2) and boxes xywh (K, 4): the predicted
        IoUs (K,) and their gradient with respect to the boxes (K, 4), written in closed form (PrRoIPool's
        box gradient, then the fully connected layers' transposes and ReLU masks), not by autograd: the
        IoU-Net refinement step as plain operations that an exported graph can hold. Eval mode only
        (BatchNorm as its running affine map)."""
        if self.training:
            raise ValueError("predict_iou_and_box_gradient needs eval mode (BatchNorm running statistics)")
        rois = torch.cat((boxes[:, :2], boxes[:, :2] + boxes[:, 2:]), dim=1)
        pooled3 = PooledBoxes(modulated[0][0], rois, 5, 5, self.prroi_pool3t.spatial_scale)
        pooled4 = PooledBoxes(modulated[1][0], rois, 3, 3, self.prroi_pool4t.spatial_scale)
        fc3, slope3 = _linear_block_forward(self.fc3_rt, pooled3.out)
        fc4, slope4 = _linear_block_forward(self.fc4_rt, pooled4.out)
        iou = self.iou_predictor(torch.cat((fc3, fc4), dim=1)).reshape(-1)
        weight3, weight4 = self.iou_predictor.weight[0].split((fc3.shape[1], fc4.shape[1]))
        grad3 = ((slope3 * weight3) @ self.fc3_rt.linear.weight).reshape(pooled3.out.shape)
        grad4 = ((slope4 * weight4) @ self.fc4_rt.linear.weight).reshape(pooled4.out.shape)
        grad_rois = pooled3.box_gradient(grad3) + pooled4.box_gradient(grad4)          # d/d(x1, y1, x2, y2)
        grad_boxes = torch.cat((grad_rois[:, :2] + grad_rois[:, 2:], grad_rois[:, 2:]), dim=1)   # x2 = x + w
        return iou, grad_boxes


def _linear_block_forward(block: LinearBlock, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """A LinearBlock's output (N, out) and d output / d (its linear layer's output), (N, out): the
    eval-mode BatchNorm's per-channel scale times the ReLU's mask."""
    z = block.linear(x.reshape(x.shape[0], -1))
    slope = torch.ones_like(z)
    if block.bn is not None:
        bn = block.bn
        scale = torch.rsqrt(bn.running_var + bn.eps) * (bn.weight if bn.affine else 1.0)
        z = (z - bn.running_mean) * scale + (bn.bias if bn.affine else 0.0)
        slope = slope * scale
    if block.relu is not None:
        slope = slope * (z > 0).to(z.dtype)
        z = torch.relu(z)
    return z, slope
