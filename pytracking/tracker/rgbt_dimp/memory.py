"""DiMP's sample memory: which slot a new sample replaces and how the sample weights change."""
from typing import Optional, Tuple

import torch


def update_sample_weights(weights: torch.Tensor, previous_replace: Optional[int], num_stored: int, num_init: int,
                          learning_rate: float, init_min_weight: Optional[float]) -> Tuple[torch.Tensor, int]:
    """Returns the new weights and the slot to write the new sample to.

    The next free slot is used; when the memory is full, the non-initial slot of lowest weight (the
    initial samples are never replaced when `init_min_weight` is set). The first update divides all
    weights by (1 - lr) and gives the new sample lr; later updates give it w[previous] / (1 - lr).
    Weights are normalised to sum to one; if the initial samples then weigh less than
    `init_min_weight`, the others are rescaled and each initial sample gets init_min_weight / num_init.
    """
    weights = weights.clone()
    first_replaceable = 0 if init_min_weight is None else num_init
    if num_stored < weights.shape[0]:
        slot = num_stored
    else:
        slot = int(torch.argmin(weights[first_replaceable:])) + first_replaceable
    if previous_replace is None:
        weights /= 1 - learning_rate
        weights[slot] = learning_rate
    else:
        weights[slot] = weights[previous_replace] / (1 - learning_rate)
    weights /= weights.sum()
    if init_min_weight is not None and weights[:num_init].sum() < init_min_weight:
        weights /= init_min_weight + weights[num_init:].sum()
        weights[:num_init] = init_min_weight / num_init
    return weights, slot
