"""DiMP tracking network (Bhat et al., "Learning Discriminative Model Prediction for Tracking",
ICCV 2019): backbone + target classifier (LinearFilter) + IoU-Net box regressor.

State-dict keys and shapes equal pytracking's (`feature_extractor.*`, `classifier.*`,
`bb_regressor.*`), so a pytracking DiMP checkpoint loads strictly.
"""
import math
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ltr.admin.model_constructor import register_variant
from ltr.models.backbone import resnet as backbones
from ltr.models.bbreg.atom_iou_net import AtomIoUNet
from ltr.models.target_classifier.features import classification_features
from ltr.models.target_classifier.initializer import FilterInitializerLinear
from ltr.models.target_classifier.linear_filter import LinearFilter
from ltr.models.target_classifier.optimizer import DiMPSteepestDescentGN


class DiMPnet(nn.Module):
    """Args:
        feature_extractor: backbone whose forward(im, layers) returns an OrderedDict.
        classifier: LinearFilter on `classification_layer`.
        bb_regressor: AtomIoUNet on `bb_regressor_layer` (two layers).
    """

    def __init__(self, feature_extractor: nn.Module, classifier: LinearFilter, bb_regressor: AtomIoUNet,
                 classification_layer: str = 'layer3', bb_regressor_layer: Sequence[str] = ('layer2', 'layer3')):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.bb_regressor = bb_regressor
        self.classification_layer = classification_layer
        self.bb_regressor_layer = list(bb_regressor_layer)
        self.output_layers = sorted(set([classification_layer] + self.bb_regressor_layer),
                                    key=backbones.LAYER_NAMES.index)

    def forward(self, train_imgs: torch.Tensor, test_imgs: torch.Tensor, train_bb: torch.Tensor,
                test_proposals: torch.Tensor, **kwargs):
        """Training forward.

        Args:
            train_imgs, test_imgs: (images, sequences, 3, H, W).
            train_bb: (images, sequences, 4) xywh in crop pixels.
            test_proposals: (images, sequences, P, 4) xywh.
        Returns:
            list of test score maps (images, sequences, 19, 19), one per filter iterate, and the
            IoU predictions (images, sequences, P).
        """
        if train_imgs.dim() != 5 or test_imgs.dim() != 5:
            raise ValueError("DiMPnet.forward expects 5-D images (images, sequences, 3, H, W)")
        train_feat = self.extract_backbone_features(train_imgs.reshape(-1, *train_imgs.shape[-3:]))
        test_feat = self.extract_backbone_features(test_imgs.reshape(-1, *test_imgs.shape[-3:]))
        target_scores = self.classifier(self.get_backbone_clf_feat(train_feat),
                                        self.get_backbone_clf_feat(test_feat), train_bb, **kwargs)
        iou_pred = self.bb_regressor(self.get_backbone_bbreg_feat(train_feat),
                                     self.get_backbone_bbreg_feat(test_feat), train_bb, test_proposals)
        return target_scores, iou_pred

    def get_backbone_clf_feat(self, backbone_feat: Dict[str, torch.Tensor]) -> torch.Tensor:
        return backbone_feat[self.classification_layer]

    def get_backbone_bbreg_feat(self, backbone_feat: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        return [backbone_feat[layer] for layer in self.bb_regressor_layer]

    def extract_classification_feat(self, backbone_feat: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier.extract_classification_feat(self.get_backbone_clf_feat(backbone_feat))

    def extract_backbone_features(self, im: torch.Tensor, layers: Optional[Sequence[str]] = None):
        return self.feature_extractor(im, self.output_layers if layers is None else layers)

    def extract_features(self, im: torch.Tensor, layers: Sequence[str]) -> 'OrderedDict[str, torch.Tensor]':
        """Backbone layers plus 'classification' (the classifier features) when asked for."""
        backbone_layers = [layer for layer in layers if layer != 'classification']
        if 'classification' in layers and self.classification_layer not in backbone_layers:
            backbone_layers.append(self.classification_layer)
        features = self.feature_extractor(im, backbone_layers)
        if 'classification' in layers:
            features['classification'] = self.extract_classification_feat(features)
        return OrderedDict((layer, features[layer]) for layer in layers)


def dimp_heads(backbone_dims: Dict[str, int], *, filter_size, optim_iter, optim_init_step, optim_init_reg,
               classification_layer, feat_stride, clf_feat_blocks, clf_feat_block, clf_feat_norm, init_filter_norm,
               final_conv, out_feature_dim, init_gauss_sigma, num_dist_bins, bin_displacement, mask_init_factor,
               iou_input_dim, iou_inter_dim, score_act, act_param, target_mask_act,
               detach_length) -> Tuple[LinearFilter, AtomIoUNet]:
    """DiMP's target classifier and IoU-Net for backbone layers of the given channel counts
    (shared by DiMP-18/50 and the RGB-T nets, whose fused features have the backbone's channels)."""
    norm_scale = math.sqrt(1.0 / (out_feature_dim * filter_size * filter_size))
    clf_feature_extractor = classification_features(
        backbone_dims[classification_layer], out_feature_dim, num_blocks=clf_feat_blocks, block=clf_feat_block,
        final_conv=final_conv, l2norm=clf_feat_norm, norm_scale=norm_scale)
    initializer = FilterInitializerLinear(filter_size=filter_size, feature_dim=out_feature_dim,
                                          feature_stride=feat_stride, filter_norm=init_filter_norm)
    optimizer = DiMPSteepestDescentGN(num_iter=optim_iter, feat_stride=feat_stride, init_step_length=optim_init_step,
                                      init_filter_reg=optim_init_reg, init_gauss_sigma=init_gauss_sigma,
                                      num_dist_bins=num_dist_bins, bin_displacement=bin_displacement,
                                      mask_init_factor=mask_init_factor, score_act=score_act, act_param=act_param,
                                      mask_act=target_mask_act, detach_length=detach_length)
    classifier = LinearFilter(filter_size=filter_size, filter_initializer=initializer,
                              filter_optimizer=optimizer, feature_extractor=clf_feature_extractor)
    bb_regressor = AtomIoUNet(input_dim=(backbone_dims['layer2'], backbone_dims['layer3']),
                              pred_input_dim=iou_input_dim, pred_inter_dim=iou_inter_dim)
    return classifier, bb_regressor


def _head_kwargs(constructor_args: dict) -> dict:
    """A constructor's arguments minus the backbone's: the keyword arguments of dimp_heads."""
    return {k: v for k, v in constructor_args.items()
            if k not in ('backbone_pretrained', 'frozen_backbone_layers', 'backbone_name', 'blocks', 'block',
                         'channels', 'allowed')}


def _dimpnet(backbone: nn.Module, backbone_dims: Dict[str, int], **head_kwargs) -> DiMPnet:
    classifier, bb_regressor = dimp_heads(backbone_dims, **head_kwargs)
    return DiMPnet(backbone, classifier, bb_regressor, classification_layer=head_kwargs['classification_layer'],
                   bb_regressor_layer=['layer2', 'layer3'])


# The classification feature head of each backbone in DiMP-18 / DiMP-50: (residual blocks, block type, channels).
DIMP_CLASSIFIER_HEADS = {'resnet18': (1, 'basic', 256), 'resnet50': (0, 'bottleneck', 512)}


def dimpnet(*, backbone_name: str = 'resnet18', filter_size=1, optim_iter=5, optim_init_step=1.0, optim_init_reg=0.01,
            classification_layer='layer3', feat_stride=16, backbone_pretrained=True, clf_feat_blocks=None,
            clf_feat_norm=True, init_filter_norm=False, final_conv=True, out_feature_dim=None,
            init_gauss_sigma=1.0, num_dist_bins=5, bin_displacement=1.0, mask_init_factor=4.0,
            iou_input_dim=(256, 256), iou_inter_dim=(256, 256), score_act='relu', act_param=None,
            target_mask_act='sigmoid', detach_length=float('inf'), frozen_backbone_layers=()) -> DiMPnet:
    """DiMP on a ResNet18 or ResNet50 backbone (registered as its variants dimpnet18 and dimpnet50).
    `clf_feat_blocks` / `out_feature_dim` default to the backbone's DiMP head (DIMP_CLASSIFIER_HEADS).

    Defaults are pytracking's constructor defaults; the trained models use filter_size=4,
    optim_init_step=0.9, optim_init_reg=0.1, init_gauss_sigma=0.9, num_dist_bins=100,
    bin_displacement=0.1, mask_init_factor=3.0. ResNet50 may classify on 'layer4' (2048 channels,
    stride 32) instead of 'layer3'.
    """
    if backbone_name not in DIMP_CLASSIFIER_HEADS:
        raise ValueError(f"backbone_name must be one of {sorted(DIMP_CLASSIFIER_HEADS)}, got {backbone_name!r}")
    allowed = ('layer3', 'layer4') if backbone_name == 'resnet50' else ('layer3',)
    if classification_layer not in allowed:
        raise ValueError(f"DiMP on {backbone_name} classifies on {' or '.join(map(repr, allowed))}, "
                         f"got {classification_layer!r}")
    blocks, block, channels = DIMP_CLASSIFIER_HEADS[backbone_name]
    clf_feat_blocks = blocks if clf_feat_blocks is None else clf_feat_blocks
    out_feature_dim = channels if out_feature_dim is None else out_feature_dim
    head_kwargs = _head_kwargs(locals())
    backbone = getattr(backbones, backbone_name)(pretrained=backbone_pretrained, frozen_layers=frozen_backbone_layers)
    return _dimpnet(backbone, backbones.LAYER_CHANNELS[backbone_name], clf_feat_block=block, **head_kwargs)


dimpnet18 = register_variant('dimpnet18', dimpnet, backbone_name='resnet18',
                             doc="DiMP-18: ResNet18 backbone, one residual block + conv in the classification head.")
dimpnet50 = register_variant('dimpnet50', dimpnet, backbone_name='resnet50',
                             doc="DiMP-50: ResNet50 backbone, conv 1024 -> 512 in the classification head "
                                 "(no residual block); classification_layer='layer4' classifies on layer4.")
