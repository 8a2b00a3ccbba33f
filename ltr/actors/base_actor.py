"""Actors pair a network with its objective: `actor(batch) -> (loss, stats)` (pytracking's contract)."""
from typing import Dict, Tuple

import torch
from torch import nn


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper."""
    return module.module if hasattr(module, 'module') else module


class BaseActor:
    """Args:
        net: the trained module (the optimiser's parameters, the checkpoint's `net`).
        objective: dict of loss modules.
    """

    def __init__(self, net: nn.Module, objective: Dict[str, nn.Module]):
        self.net = net
        self.objective = objective

    def __call__(self, data: dict) -> Tuple[torch.Tensor, Dict[str, float]]:
        raise NotImplementedError

    def to(self, device) -> 'BaseActor':
        self.net.to(device)
        return self

    def train(self, mode: bool = True) -> None:
        self.net.train(mode)

    def eval(self) -> None:
        self.train(False)

    def checkpoint_state(self) -> dict:
        """What a training checkpoint stores of the networks (plain data and tensors only)."""
        net = unwrap(self.net)
        state = {'net': net.state_dict(), 'net_type': type(net).__name__}
        if getattr(net, 'constructor', None) is not None:
            state['constructor'] = net.constructor.to_dict()
        return state

    def load_checkpoint_state(self, checkpoint: dict) -> None:
        unwrap(self.net).load_state_dict(checkpoint['net'])
