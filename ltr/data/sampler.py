"""RGB-T DiMP sampler (pytracking's DiMPSampler, causal mode): draws a sequence, then train frames
before and test frames after a base frame, visible frames only, within max_gap."""
import logging
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ltr.data.image_loader import ImageReadError

_logger = logging.getLogger(__name__)


class RGBTDiMPSampler(Dataset):
    """Args:
        datasets: RGB-T training datasets (ltr.dataset).
        p_datasets: sampling weight per dataset (normalised), default by number of sequences.
        samples_per_epoch: length of the epoch.
        max_gap: maximum frame distance from the base frame (grows by 5 after failed draws).
        num_test_frames, num_train_frames: frames per sample (3 and 3 in DiMP).
        processing: RGBTDiMPProcessing, called with (data, rng).
        seed: seed of the sampler's random generator (reseeded per loader worker).

    A sequence with a corrupt, truncated or missing frame (or an RGB/TIR size mismatch) is dropped
    from sampling with one warning naming the file (per loader process), and another sequence is
    drawn: one bad frame in a 1000-sequence data set does not stop a multi-day run.
    """

    def __init__(self, datasets: Sequence, p_datasets: Optional[Sequence[float]], samples_per_epoch: int,
                 max_gap: int = 30, num_test_frames: int = 3, num_train_frames: int = 3, processing=None,
                 frame_sample_mode: str = 'causal', seed: int = 0):
        if frame_sample_mode != 'causal':
            raise ValueError(f"only the 'causal' frame sample mode is implemented, got {frame_sample_mode!r}")
        self.datasets = list(datasets)
        weights = np.asarray(p_datasets if p_datasets is not None else [len(d) for d in self.datasets], dtype=float)
        self.p_datasets = weights / weights.sum()
        self.samples_per_epoch = samples_per_epoch
        self.max_gap = max_gap
        self.num_test_frames = num_test_frames
        self.num_train_frames = num_train_frames
        self.processing = processing
        self.rng = np.random.default_rng(seed)
        self.excluded = set()           # (dataset name, sequence id) with unreadable frames

    def reseed(self, seed: int) -> None:
        """Gives each loader worker its own stream of samples."""
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _sample_visible_ids(self, visible: torch.Tensor, num_ids: int, min_id: int, max_id: int) -> Optional[List[int]]:
        """`num_ids` visible frame indices in [min_id, max_id), drawn with replacement; None if none."""
        if num_ids == 0:
            return []
        candidates = torch.nonzero(visible[max(min_id, 0):min(max_id, len(visible))]).flatten() + max(min_id, 0)
        if len(candidates) == 0:
            return None
        return [int(candidates[i]) for i in self.rng.integers(len(candidates), size=num_ids)]

    def _draw_sequence(self, dataset):
        min_visible = 2 * (self.num_test_frames + self.num_train_frames)
        for _ in range(1000):
            seq_id = int(self.rng.integers(dataset.get_num_sequences()))
            if (dataset.get_name(), seq_id) in self.excluded:
                continue
            info = dataset.get_sequence_info(seq_id)
            visible = info['visible']
            if int(visible.sum()) > min_visible and len(visible) >= 20:
                return seq_id, info
        raise RuntimeError(self._no_sequence_message(dataset, min_visible))

    def _no_sequence_message(self, dataset, min_visible: int) -> str:
        counts = [int(dataset.get_sequence_info(i)['visible'].sum()) for i in range(dataset.get_num_sequences())]
        excluded = sum(name == dataset.get_name() for name, _ in self.excluded)
        return (f"{dataset.get_name()}: no usable sequence in 1000 draws. A sequence needs at least 20 frames and "
                f"more than {min_visible} frames with a valid box (finite, width and height > 0); the "
                f"{len(counts)} sequences have at most {max(counts, default=0)} valid boxes"
                + (f", and {excluded} were dropped for unreadable frames" if excluded else '')
                + ". Check the annotation files (e.g. rows of 0,0,0,0 or negative sizes).")

    def _draw_frames(self, visible: torch.Tensor):
        gap_increase = 0
        while True:
            base = self._sample_visible_ids(visible, 1, self.num_train_frames - 1, len(visible) - self.num_test_frames)
            if base is None:
                raise RuntimeError("no visible base frame")
            base = base[0]
            prior = self._sample_visible_ids(visible, self.num_train_frames - 1, base - self.max_gap - gap_increase, base)
            test = self._sample_visible_ids(visible, self.num_test_frames, base + 1,
                                            base + self.max_gap + gap_increase)
            if prior is not None and test is not None:
                return sorted(prior) + [base], test
            gap_increase += 5

    def __getitem__(self, index: int) -> dict:
        while True:
            dataset = self.datasets[int(self.rng.choice(len(self.datasets), p=self.p_datasets))]
            seq_id, info = self._draw_sequence(dataset)
            train_ids, test_ids = self._draw_frames(info['visible'])
            try:
                train_rgb, train_tir, train_anno, _ = dataset.get_frames(seq_id, train_ids, info)
                test_rgb, test_tir, test_anno, meta = dataset.get_frames(seq_id, test_ids, info)
            except (ImageReadError, FileNotFoundError) as err:
                self.excluded.add((dataset.get_name(), seq_id))
                _logger.warning("%s: sequence %d dropped from training: %s", dataset.get_name(), seq_id, err)
                continue
            data = {'train_rgb': train_rgb, 'train_tir': train_tir, 'train_anno': train_anno['bbox'],
                    'test_rgb': test_rgb, 'test_tir': test_tir, 'test_anno': test_anno['bbox'],
                    'dataset': dataset.get_name(), 'sequence': meta['sequence']}
            return self.processing(data, self.rng) if self.processing is not None else data
