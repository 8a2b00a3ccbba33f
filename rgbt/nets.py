"""RGB-T DiMP networks of CMD (paper Sec. 3.2): the two-stream ResNet50 teacher with MDC + FRS
fusion and the single-stream ResNet18 student with MPSD fusion (and its ablation variants).

Both are an RGBTDiMPnet: backbone(s) -> per-modality features at levels 1-4 (conv1, layer1,
layer2, layer3) -> fusion at layer2 and layer3 -> DiMP classifier on fused layer3 and IoU-Net on
fused layer2 + layer3. The student runs its one ResNet18 on RGB and TIR in one batched call.
Table 4's MD baseline uses image-level fusion instead (fusion='image'): RGB and TIR stacked as six
input channels of one ResNet18, whose features are the fused features.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from ltr.admin.loading import checkpoint_path, load_checkpoint_file
from ltr.admin.model_constructor import register_variant
from ltr.models.backbone import resnet as backbones
from ltr.models.tracking.dimpnet import DIMP_CLASSIFIER_HEADS, dimp_heads
from rgbt.fusion import MPSD, create_fusion

FUSED_LAYERS = ('layer2', 'layer3')
DISTILL_LAYERS = ('conv1', 'layer1', 'layer2', 'layer3')      # the paper's levels 1-4

# DiMP's trained head hyper-parameters (pytracking's dimp18/dimp50 settings).
TRAINED_HEAD_KWARGS = dict(filter_size=4, optim_iter=5, optim_init_step=0.9, optim_init_reg=0.1,
                           init_gauss_sigma=0.9, num_dist_bins=100, bin_displacement=0.1, mask_init_factor=3.0,
                           classification_layer='layer3', feat_stride=16, clf_feat_norm=True, init_filter_norm=False,
                           final_conv=True, iou_input_dim=(256, 256), iou_inter_dim=(256, 256), score_act='relu',
                           act_param=None, target_mask_act='sigmoid', detach_length=float('inf'))


class RGBTDiMPnet(nn.Module):
    """Args:
        feature_extractor: the RGB backbone, or the shared backbone when `feature_extractor_tir` is None.
        fusion: ModuleDict layer name -> fusion module (rgb, tir) -> fused.
        classifier, bb_regressor: DiMP heads on the fused features.
        feature_extractor_tir: the thermal backbone of a two-stream net.
        image_fusion: the backbone takes RGB and TIR stacked as 6 channels (image-level fusion, an
            empty `fusion`); its features at every level are the fused ones and stand for both
            modalities' features where per-modality features are asked for.
    """

    def __init__(self, feature_extractor: nn.Module, fusion: nn.ModuleDict, classifier: nn.Module,
                 bb_regressor: nn.Module, feature_extractor_tir: Optional[nn.Module] = None,
                 classification_layer: str = 'layer3', bb_regressor_layer: Sequence[str] = FUSED_LAYERS,
                 image_fusion: bool = False):
        super().__init__()
        if image_fusion and (feature_extractor_tir is not None or len(fusion)):
            raise ValueError("image-level fusion has one backbone and no feature fusion modules")
        self.image_fusion = image_fusion
        self.feature_extractor = feature_extractor
        self.feature_extractor_tir = feature_extractor_tir
        self.fusion = fusion
        self.classifier = classifier
        self.bb_regressor = bb_regressor
        self.classification_layer = classification_layer
        self.bb_regressor_layer = list(bb_regressor_layer)

    @property
    def two_stream(self) -> bool:
        return self.feature_extractor_tir is not None

    def extract_backbone_features(self, rgb: torch.Tensor, tir: torch.Tensor, layers: Sequence[str] = FUSED_LAYERS):
        """(N, 3, H, W) images per modality -> (rgb_features, tir_features), dicts layer -> (N, C, h, w)."""
        if self.two_stream:
            return self.feature_extractor(rgb, layers), self.feature_extractor_tir(tir, layers)
        if self.image_fusion:
            joint = self.feature_extractor(torch.cat((rgb, tir), dim=1), layers)
            return joint, joint
        both = self.feature_extractor(torch.cat((rgb, tir), dim=0), layers)   # one batched call
        rgb_feats, tir_feats = OrderedDict(), OrderedDict()
        for layer, feat in both.items():
            rgb_feats[layer], tir_feats[layer] = feat.chunk(2, dim=0)
        return rgb_feats, tir_feats

    def fuse_features(self, rgb_feats: Dict[str, torch.Tensor], tir_feats: Dict[str, torch.Tensor],
                      with_paths: bool = False):
        """Fused layer2/layer3 features; with_paths also returns {layer: (paths, weights)} of MPSD modules."""
        fused, paths = OrderedDict(), {}
        if self.image_fusion:
            fused.update((layer, rgb_feats[layer]) for layer in FUSED_LAYERS)
        for layer, module in self.fusion.items():
            if with_paths and isinstance(module, MPSD):
                fused[layer], layer_paths, weights = module.forward_with_paths(rgb_feats[layer], tir_feats[layer])
                paths[layer] = (layer_paths, weights)
            else:
                fused[layer] = module(rgb_feats[layer], tir_feats[layer])
        return (fused, paths) if with_paths else fused

    def extract_features(self, rgb: torch.Tensor, tir: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Fused layer2 and layer3 features of an image pair batch (what the tracker uses)."""
        return self.fuse_features(*self.extract_backbone_features(rgb, tir, FUSED_LAYERS))

    def extract_classification_feat(self, fused: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier.extract_classification_feat(fused[self.classification_layer])

    def get_backbone_bbreg_feat(self, fused: Dict[str, torch.Tensor]):
        return [fused[layer] for layer in self.bb_regressor_layer]

    def forward(self, train_rgb: torch.Tensor, train_tir: torch.Tensor, test_rgb: torch.Tensor, test_tir: torch.Tensor,
                train_bb: torch.Tensor, test_proposals: torch.Tensor, return_features: bool = False, **kwargs):
        """Training forward.

        Args:
            train_rgb, train_tir, test_rgb, test_tir: (frames, sequences, 3, H, W).
            train_bb: (frames, sequences, 4); test_proposals: (frames, sequences, P, 4).
            return_features: also return what distillation needs.
        Returns:
            score maps per filter iterate (frames, sequences, h+1, w+1), IoU predictions
            (frames, sequences, P) and, if asked, a dict with 'rgb' and 'tir' (levels 1-4) and 'fused'
            (layer2, layer3) features of all train then test images, and 'paths' of MPSD modules.
        """
        num_train = train_rgb.shape[0] * train_rgb.shape[1]
        rgb = torch.cat((train_rgb.flatten(0, 1), test_rgb.flatten(0, 1)))
        tir = torch.cat((train_tir.flatten(0, 1), test_tir.flatten(0, 1)))
        layers = DISTILL_LAYERS if return_features else FUSED_LAYERS
        rgb_feats, tir_feats = self.extract_backbone_features(rgb, tir, layers)
        fused, paths = self.fuse_features(rgb_feats, tir_feats, with_paths=True)
        train_fused = {layer: f[:num_train] for layer, f in fused.items()}
        test_fused = {layer: f[num_train:] for layer, f in fused.items()}
        scores = self.classifier(train_fused[self.classification_layer], test_fused[self.classification_layer],
                                 train_bb, **kwargs)
        iou = self.bb_regressor(self.get_backbone_bbreg_feat(train_fused), self.get_backbone_bbreg_feat(test_fused),
                                train_bb, test_proposals)
        if not return_features:
            return scores, iou
        return scores, iou, {'rgb': rgb_feats, 'tir': tir_feats, 'fused': fused, 'paths': paths}


def distill_channels(net: RGBTDiMPnet) -> List[int]:
    """Channels of the net's backbone at DISTILL_LAYERS, read from the backbone itself (the one
    source of channel counts; the distillation adapters are sized with it)."""
    return [net.feature_extractor.layer_channels[layer] for layer in DISTILL_LAYERS]


def build_rgbt_dimpnet(backbone_name: str, two_stream: bool, fusion: str, backbone_pretrained: bool = False,
                       fusion_kwargs: Optional[dict] = None, **head_kwargs) -> RGBTDiMPnet:
    """An RGBTDiMPnet of any backbone / stream count / fusion with the DiMP heads of its backbone: what
    the registered builders below are made of (checkpoints name those), also used by diagnostics."""
    clf_feat_blocks, clf_feat_block, out_feature_dim = DIMP_CLASSIFIER_HEADS[backbone_name]
    make_backbone = getattr(backbones, backbone_name)
    dims = backbones.LAYER_CHANNELS[backbone_name]
    kwargs = dict(TRAINED_HEAD_KWARGS, **head_kwargs)
    classifier, bb_regressor = dimp_heads(dims, clf_feat_blocks=clf_feat_blocks, clf_feat_block=clf_feat_block,
                                          out_feature_dim=out_feature_dim, **kwargs)
    image_fusion = fusion == 'image'
    if image_fusion and two_stream:
        raise ValueError("image-level fusion needs a one-stream backbone")
    fusion_modules = nn.ModuleDict({} if image_fusion else {
        layer: create_fusion(fusion, dims[layer], **(fusion_kwargs or {})) for layer in FUSED_LAYERS})
    backbone = make_backbone(pretrained=backbone_pretrained)
    if image_fusion:
        stack_modalities_at_input(backbone)
    return RGBTDiMPnet(backbone, fusion_modules, classifier, bb_regressor,
                       make_backbone(pretrained=backbone_pretrained) if two_stream else None,
                       classification_layer=kwargs['classification_layer'], image_fusion=image_fusion)


def stack_modalities_at_input(backbone: nn.Module) -> None:
    """Image-level fusion: conv1 takes RGB and TIR stacked as 6 channels. Each half starts as half of
    the 3-channel kernel (ImageNet's when the backbone was loaded pretrained), so an RGB-T pair of
    equal images gives the 3-channel network's response: our choice, the MD paper [29] is not
    available here."""
    old = backbone.conv1
    new = nn.Conv2d(2 * old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    with torch.no_grad():
        new.weight.copy_(stacked_input_kernel(old.weight))
    backbone.conv1 = new


def stacked_input_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A (out, 3, k, k) conv1 kernel as the (out, 6, k, k) kernel of RGB and TIR stacked: half of it per modality."""
    return torch.cat((weight, weight), dim=1) / 2


def rgbt_dimpnet(*, backbone_name: str = 'resnet18', two_stream: bool = False, fusion: str = 'mpsd',
                 backbone_pretrained: bool = True, fusion_gate: str = 'softmax', **head_kwargs) -> RGBTDiMPnet:
    """The one builder of the CMD networks (registered through its variants below): `backbone_name`
    resnet18 / resnet50, one stream or `two_stream`, `fusion` (mpsd / concat / saf / caf / tf / image)
    at layer2 and layer3, DiMP heads of the backbone. `fusion_gate`: softmax or sigmoid in MPSD's and
    SAF's spatial attention (Eq. 5)."""
    fusion_kwargs = {'gate': fusion_gate} if fusion in ('mpsd', 'saf') else {}
    return build_rgbt_dimpnet(backbone_name, two_stream, fusion, backbone_pretrained, fusion_kwargs, **head_kwargs)


cmd_student = register_variant(
    'cmd_student', rgbt_dimpnet, backbone_name='resnet18', two_stream=False, fusion='mpsd',
    doc="The CMD student: one ResNet18 for both modalities, MPSD at layer2 and layer3, DiMP-18 heads "
        "(19.9 M parameters); other `fusion`s give the ablation students ('concat' is Student-Origin, 19.8 M; "
        "'image' stacks RGB and TIR at the input, Table 4's MD, 19.7 M).")
cmd_student_origin = register_variant(
    'cmd_student_origin', rgbt_dimpnet, backbone_name='resnet18', two_stream=False, fusion='concat',
    doc="Student-Origin: the student with concatenation + 1x1 conv fusion.")
cmd_student_two_stream = register_variant(
    'cmd_student_two_stream', rgbt_dimpnet, backbone_name='resnet18', two_stream=True, fusion='concat',
    doc="Table 4's two-stream student: one ResNet18 per modality, `fusion` at layer2 and layer3 (concat by "
        "default: our choice, the paper does not say), DiMP-18 heads. 31.5 M parameters (paper 31.6 M).")
cmd_teacher = register_variant(
    'cmd_teacher', rgbt_dimpnet, backbone_name='resnet50', two_stream=True, fusion='tf',
    doc="The CMD teacher: two ResNet50 streams, MDC + FRS fusion (reconstructed, see rgbt.fusion) at layer2 "
        "and layer3, DiMP-50 heads.")


def init_from_dimp(net: RGBTDiMPnet, path: str, allow_legacy_pickle: bool = False) -> None:
    """Initialises backbone(s) and heads from a pytracking DiMP checkpoint (DiMP-50 for the teacher,
    DiMP-18 for the student); both streams of a two-stream net get the same backbone weights, as in
    mfDiMP. The fusion modules keep their initialisation."""
    state = load_checkpoint_file(checkpoint_path(path), allow_legacy_pickle=allow_legacy_pickle)['net']
    target = {}
    own = net.state_dict()
    for key, value in state.items():
        if net.image_fusion and key == 'feature_extractor.conv1.weight' and value.shape[1] * 2 == own[key].shape[1]:
            value = stacked_input_kernel(value)
        target[key] = value
        if net.two_stream and key.startswith('feature_extractor.'):
            target['feature_extractor_tir.' + key[len('feature_extractor.'):]] = value
    mismatched = [k for k, v in target.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        key = mismatched[0]
        raise RuntimeError(
            f"{path} does not fit this network: {len(mismatched)} tensors differ in shape (e.g. {key}: "
            f"{tuple(target[key].shape)} in the file, {tuple(own[key].shape)} here). DiMP-50 initialises "
            f"the teacher, DiMP-18 the student.")
    missing, unexpected = net.load_state_dict(target, strict=False)
    not_fusion = [k for k in missing if not k.startswith('fusion.')]
    if not_fusion or unexpected:
        raise RuntimeError(f"{path} does not fit this network: missing {not_fusion[:5]}, unexpected {unexpected[:5]}")
