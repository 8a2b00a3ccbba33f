"""DiMP's target classifier: a linear correlation filter predicted from training samples
(DiMP paper, Sec. 3)."""
import math

import torch
from torch import nn

from ltr.models.target_classifier.filter import apply_filter


class LinearFilter(nn.Module):
    """Predicts a filter from training features and boxes and applies it to test features.

    Args:
        filter_size: fs of the filter.
        filter_initializer: module (feat, bb) -> initial filter.
        filter_optimizer: module refining the filter, or None.
        feature_extractor: head mapping backbone features to classification features, or None.
    """

    def __init__(self, filter_size: int, filter_initializer: nn.Module, filter_optimizer=None,
                 feature_extractor=None):
        super().__init__()
        self.filter_size = filter_size
        self.filter_initializer = filter_initializer
        self.filter_optimizer = filter_optimizer
        self.feature_extractor = feature_extractor
        if feature_extractor is not None:
            for module in feature_extractor.modules():
                if isinstance(module, nn.Conv2d):
                    fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                    nn.init.normal_(module.weight, 0, math.sqrt(2.0 / fan_out))
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
                elif isinstance(module, nn.BatchNorm2d):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)

    def forward(self, train_feat: torch.Tensor, test_feat: torch.Tensor, train_bb: torch.Tensor, **kwargs):
        """Backbone features (images, sequences, C, H, W) or (images*sequences, C, H, W); train_bb
        (images, sequences, 4). Returns a list of test score maps (images, sequences, Ho, Wo), one per
        filter iterate."""
        num_sequences = train_bb.shape[1]
        train_feat = self.extract_classification_feat(train_feat, num_sequences)
        test_feat = self.extract_classification_feat(test_feat, num_sequences)
        _, filter_iterates, _ = self.get_filter(train_feat, train_bb, **kwargs)
        return [apply_filter(test_feat, f) for f in filter_iterates]

    def extract_classification_feat(self, feat: torch.Tensor, num_sequences=None) -> torch.Tensor:
        """Classification features; 5-D output (images, sequences, C, H, W) when num_sequences is given."""
        if self.feature_extractor is None:
            output = feat.reshape(-1, *feat.shape[-3:])
        else:
            output = self.feature_extractor(feat.reshape(-1, *feat.shape[-3:]))
        if num_sequences is None:
            return output
        return output.reshape(-1, num_sequences, *output.shape[-3:])

    def classify(self, weights: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        return apply_filter(feat, weights)

    def get_filter(self, feat: torch.Tensor, bb: torch.Tensor, **kwargs):
        """Initial filter refined by the optimiser. Returns (filter, iterates, losses)."""
        weights = self.filter_initializer(feat, bb)
        if self.filter_optimizer is None:
            return weights, [weights], []
        return self.filter_optimizer(weights, feat=feat, bb=bb, **kwargs)
