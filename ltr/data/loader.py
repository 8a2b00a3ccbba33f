"""LTRLoader: a DataLoader whose batches stack tensors along `stack_dim` (1 for DiMP, giving
(frames, sequences, ...)), keeps strings as lists, and reseeds the sampler in every worker."""
from typing import Any, List

import torch
from torch.utils.data import DataLoader, get_worker_info


def stack_batch(samples: List[Any], stack_dim: int = 1):
    first = samples[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(samples, dim=stack_dim)
    if isinstance(first, dict):
        return {key: stack_batch([s[key] for s in samples], stack_dim) for key in first}
    if isinstance(first, (list, tuple)) and first and isinstance(first[0], torch.Tensor):
        return [stack_batch(list(items), stack_dim) for items in zip(*samples)]
    return list(samples)


def _reseed_worker(worker_id: int) -> None:
    info = get_worker_info()
    if hasattr(info.dataset, 'reseed'):
        info.dataset.reseed(info.seed % 2 ** 32)


class LTRLoader(DataLoader):
    """Args:
        name: 'train' or 'val' (used in logs and stats).
        training: whether the trainer runs backward on this loader's batches.
        stack_dim: dimension along which samples are stacked.
        epoch_interval: run this loader every `epoch_interval` epochs.
    """

    def __init__(self, name: str, dataset, training: bool = True, batch_size: int = 1, shuffle: bool = False,
                 num_workers: int = 0, drop_last: bool = False, stack_dim: int = 1, epoch_interval: int = 1,
                 pin_memory: bool = False, **kwargs):
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                         collate_fn=lambda samples: stack_batch(samples, stack_dim), drop_last=drop_last,
                         pin_memory=pin_memory, worker_init_fn=_reseed_worker if num_workers > 0 else None,
                         persistent_workers=False, **kwargs)
        self.name = name
        self.training = training
        self.stack_dim = stack_dim
        self.epoch_interval = epoch_interval
