"""A random training batch with the names and shapes of the RGB-T DiMP processing output, for
speed measurements and tests (no data set needed)."""
import torch

from ltr.data.processing_utils import gaussian_label_function


def random_training_batch(frames: int = 3, sequences: int = 2, crop: int = 288, proposals: int = 8,
                          seed: int = 0) -> dict:
    """Images (frames, sequences, 3, crop, crop) per modality, one target box per sequence, jittered
    proposals with random IoU targets, and the Gaussian labels of the boxes."""
    generator = torch.Generator().manual_seed(seed)
    images = lambda: torch.randn(frames, sequences, 3, crop, crop, generator=generator)  # noqa: E731
    box = torch.tensor([crop * 0.3, crop * 0.35, crop * 0.35, crop * 0.3])
    anno = box.expand(frames, sequences, 4).clone()
    jittered = anno.unsqueeze(2) + torch.randn(frames, sequences, proposals, 4, generator=generator)
    feature_sz = crop // 16
    label = gaussian_label_function(anno.reshape(-1, 4), 0.05, 4, feature_sz, crop)
    return {'train_rgb': images(), 'train_tir': images(), 'test_rgb': images(), 'test_tir': images(),
            'train_anno': anno, 'test_anno': anno.clone(), 'test_proposals': jittered,
            'proposal_iou': torch.rand(frames, sequences, proposals, generator=generator) * 2 - 1,
            'test_label': label.reshape(frames, sequences, feature_sz + 1, feature_sz + 1)}
