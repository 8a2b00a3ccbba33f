"""RGB-T training datasets in pytracking's BaseVideoDataset style, backed by rgbt.benchmarks.

`get_sequence_info(seq_id)` gives per-frame `bbox` (visible box), `bbox_tir`, `valid` and `visible`
tensors; `get_frames(seq_id, frame_ids)` returns the paired RGB and TIR frames (HxWx3 uint8 RGB)
and their annotations.
"""
from typing import Callable, Dict, Optional, Sequence

import torch

from ltr.admin.environment import env_settings
from ltr.data.image_loader import imread_rgb, read_frame_pair
from rgbt import benchmarks


class RGBTVideoDataset:
    """A benchmark's sequences as training data.

    Args:
        benchmark: an rgbt.benchmarks reader.
        image_loader: path -> HxWx3 uint8 RGB array.
        name: dataset name used in logs and batches.
        resize_tir: resize thermal frames to the RGB size instead of raising on a size mismatch.
    """

    def __init__(self, benchmark: benchmarks.RGBTBenchmark, image_loader: Callable = imread_rgb, name: str = '',
                 resize_tir: bool = False):
        self.benchmark = benchmark
        self.resize_tir = resize_tir
        self.image_loader = image_loader
        self.name = name or benchmark.name
        self.sequence_list = benchmark.sequence_names()
        if not self.sequence_list:
            raise RuntimeError(f"{self.name}: no sequences found in {benchmark.root}")
        self._cache: Dict[int, benchmarks.RGBTSequence] = {}

    def get_name(self) -> str:
        return self.name

    def is_video_sequence(self) -> bool:
        return True

    def get_num_sequences(self) -> int:
        return len(self.sequence_list)

    def __len__(self) -> int:
        return self.get_num_sequences()

    def _sequence(self, seq_id: int) -> benchmarks.RGBTSequence:
        if seq_id not in self._cache:
            self._cache[seq_id] = self.benchmark.load_sequence(self.sequence_list[seq_id], require_frames=True)
        return self._cache[seq_id]

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        sequence = self._sequence(seq_id)
        bbox = torch.tensor(sequence.gt_rgb, dtype=torch.float32)
        valid = torch.from_numpy(sequence.target_visible('rgb'))
        return {'bbox': bbox, 'bbox_tir': torch.tensor(sequence.gt_tir, dtype=torch.float32),
                'valid': valid, 'visible': valid.clone()}

    def read_pair(self, rgb_path, tir_path):
        """One frame pair with the size rule of ltr.data.image_loader.read_frame_pair."""
        return read_frame_pair(rgb_path, tir_path, self.resize_tir, imread=self.image_loader)

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: Optional[dict] = None):
        """Returns (rgb_frames, tir_frames, anno_frames, meta) for the given frame indices."""
        sequence = self._sequence(seq_id)
        pairs = [self.read_pair(sequence.rgb_frames[i], sequence.tir_frames[i]) for i in frame_ids]
        rgb, tir = [p[0] for p in pairs], [p[1] for p in pairs]
        anno = anno if anno is not None else self.get_sequence_info(seq_id)
        anno_frames = {key: [value[i].clone() for i in frame_ids] for key, value in anno.items()}
        meta = {'sequence': sequence.name, 'dataset': self.name}
        return rgb, tir, anno_frames, meta


def _root(root, setting: str) -> str:
    return root if root is not None else env_settings().require_dir(setting)


class LasHeR(RGBTVideoDataset):
    """LasHeR training data; `split` 'train' (979 sequences, default), 'test' or 'all'."""

    def __init__(self, root=None, split: str = 'train', image_loader: Callable = imread_rgb):
        super().__init__(benchmarks.LasHeR(_root(root, 'lasher_dir'), split), image_loader, f"lasher_{split}")


class RGBT234(RGBTVideoDataset):
    def __init__(self, root=None, image_loader: Callable = imread_rgb):
        super().__init__(benchmarks.RGBT234(_root(root, 'rgbt234_dir')), image_loader, 'rgbt234')


class RGBT210(RGBTVideoDataset):
    def __init__(self, root=None, image_loader: Callable = imread_rgb):
        super().__init__(benchmarks.RGBT210(_root(root, 'rgbt210_dir')), image_loader, 'rgbt210')


class GTOT(RGBTVideoDataset):
    def __init__(self, root=None, image_loader: Callable = imread_rgb):
        super().__init__(benchmarks.GTOT(_root(root, 'gtot_dir')), image_loader, 'gtot')


class VTUAV(RGBTVideoDataset):
    """VTUAV training data; `split` 'train' (train_ST + train_LT, default) or one split folder. Only
    every 10th frame has a box: the others are marked not visible, so the sampler draws annotated
    frames only."""

    def __init__(self, root=None, split: str = 'train', image_loader: Callable = imread_rgb):
        super().__init__(benchmarks.VTUAV(_root(root, 'vtuav_dir'), split), image_loader, f"vtuav_{split}")


class Synthetic(RGBTVideoDataset):
    """The generated benchmark; `split` 'train' (default) or 'test'."""

    def __init__(self, root=None, split: str = 'train', image_loader: Callable = imread_rgb):
        super().__init__(benchmarks.Synthetic(_root(root, 'synthetic_dir'), split), image_loader, f"synthetic_{split}")
