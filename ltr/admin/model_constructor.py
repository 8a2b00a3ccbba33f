"""Records how a network was built, as plain data, so checkpoints can rebuild it.

A constructor decorated with :func:`model_constructor` attaches a :class:`NetConstructor` to the
network it returns. Its :meth:`NetConstructor.to_dict` form (module, function, args, kwargs)
contains only plain Python values, so checkpoints load with ``torch.load(weights_only=True)``.
"""
import functools
import importlib
from typing import Any, Dict


class NetConstructor:
    """Function name, module and arguments that rebuild a network.

    The class name and attributes match pytracking's so that legacy pickled checkpoints unpickle
    into it (see ltr.admin.loading).
    """

    def __init__(self, fun_name: str, fun_module: str, args=(), kwds=None):
        self.fun_name = fun_name
        self.fun_module = fun_module
        self.args = tuple(args)
        self.kwds = dict(kwds or {})

    def get(self, **overrides):
        """Rebuilds the network; `overrides` replace stored keyword arguments."""
        kwds = dict(self.kwds)
        kwds.update(overrides)
        function = getattr(importlib.import_module(self.fun_module), self.fun_name)
        return function(*self.args, **kwds)

    def to_dict(self) -> Dict[str, Any]:
        return {'fun_name': self.fun_name, 'fun_module': self.fun_module,
                'args': list(self.args), 'kwds': dict(self.kwds)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'NetConstructor':
        return cls(data['fun_name'], data['fun_module'], data.get('args', ()), data.get('kwds', {}))

    def __repr__(self) -> str:
        return f"NetConstructor({self.fun_module}.{self.fun_name}, args={self.args}, kwds={self.kwds})"


def model_constructor(function):
    """Decorator: the returned network gets a `constructor` attribute that can rebuild it."""

    @functools.wraps(function)
    def build(*args, **kwds):
        net = function(*args, **kwds)
        net.constructor = NetConstructor(function.__name__, function.__module__, args, kwds)
        return net

    return build
