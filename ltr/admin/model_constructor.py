"""Records how a network was built, as plain data, so checkpoints can rebuild it.

A constructor decorated with :func:`model_constructor` attaches a :class:`NetConstructor` to the
network it returns and enters the registry of network builders. Its :meth:`NetConstructor.to_dict`
form (module, function, args, kwargs) contains only plain Python values, so checkpoints load with
``torch.load(weights_only=True)``.

Rebuilding trusts nothing in the file: the stored (module, function) must name a registered
builder and its arguments must be plain data (None, bool, int, float, str and lists, tuples and
str-keyed dicts of them). Anything else (``ltr.admin.loading.load_network``, ``torch.hub.load``,
``os.system``) raises :class:`UntrustedConstructorError` before any import of the stored module.
"""
import functools
import importlib
import math
from typing import Any, Callable, Dict, Tuple

from ltr.admin.limits import bound

# Modules whose import registers builders. A checkpoint may name only these modules; importing one
# runs this package's own code, never the file's.
BUILDER_MODULES = ('ltr.models.tracking.dimpnet', 'rgbt.nets')

_REGISTRY: Dict[Tuple[str, str], Callable] = {}


class UntrustedConstructorError(ValueError):
    """A stored constructor names a function outside the registry or has non-plain arguments."""


def registered_builders() -> Dict[str, Callable]:
    """All network builders, 'module.function' -> function (imports the builder modules)."""
    for module in BUILDER_MODULES:
        importlib.import_module(module)
    return {f'{module}.{name}': function for (module, name), function in sorted(_REGISTRY.items())}


def resolve_builder(fun_module: str, fun_name: str) -> Callable:
    """The registered builder `fun_module.fun_name`; UntrustedConstructorError for anything else."""
    key = (fun_module, fun_name)
    if key not in _REGISTRY and fun_module in BUILDER_MODULES:
        importlib.import_module(fun_module)
    if key not in _REGISTRY:
        raise UntrustedConstructorError(
            f"constructor {fun_module}.{fun_name} is not one of this package's network builders "
            f"({', '.join(registered_builders())}); refusing to call it")
    return _REGISTRY[key]


def check_plain(value: Any, where: str = 'argument', depth: int = 0) -> None:
    """Raises UntrustedConstructorError unless `value` is plain data (see the module docstring), nested
    at most `plain_depth` deep, with every integer within `builder_int` (ltr.admin.limits: a builder
    argument sizes tensors, and 10**9 bins would allocate gigabytes before any weight is checked)."""
    if depth > bound('plain_depth'):
        raise UntrustedConstructorError(f"{where} is nested more than {bound('plain_depth')} deep")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > bound('builder_int'):
            raise UntrustedConstructorError(f"{where} is {value:,}, above the bound of {bound('builder_int'):,} "
                                            f"for a builder argument (RGBT_MAX_BUILDER_INT raises it)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UntrustedConstructorError(f"{where} is {value}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain(item, f'{where}[{index}]', depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UntrustedConstructorError(f"{where} has a non-string key {key!r}")
            check_plain(item, f'{where}[{key!r}]', depth + 1)
        return
    raise UntrustedConstructorError(f"{where} is a {type(value).__name__}, not plain data")


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
        """Rebuilds the network; `overrides` replace stored keyword arguments.

        Raises UntrustedConstructorError when the function is not a registered builder or an
        argument is not plain data."""
        if not isinstance(self.fun_module, str) or not isinstance(self.fun_name, str):
            raise UntrustedConstructorError(f"constructor names {self.fun_module!r}.{self.fun_name!r}, not strings")
        function = resolve_builder(self.fun_module, self.fun_name)
        kwds = dict(self.kwds)
        kwds.update(overrides)
        check_plain(list(self.args), f'{self.fun_name} positional arguments')
        check_plain(kwds, f'{self.fun_name} keyword arguments')
        return function(*self.args, **kwds)

    def to_dict(self) -> Dict[str, Any]:
        return {'fun_name': self.fun_name, 'fun_module': self.fun_module,
                'args': list(self.args), 'kwds': dict(self.kwds)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'NetConstructor':
        """From the stored plain data; UntrustedConstructorError naming what is missing or mistyped."""
        for key in ('fun_name', 'fun_module'):
            if not isinstance(data.get(key), str):
                raise UntrustedConstructorError(f"constructor entry {key!r} is {data.get(key)!r}, not a name")
        args, kwds = data.get('args', ()), data.get('kwds', {})
        if not isinstance(args, (list, tuple)):
            raise UntrustedConstructorError(f"constructor 'args' is a {type(args).__name__}, not a list")
        if not isinstance(kwds, dict):
            raise UntrustedConstructorError(f"constructor 'kwds' is a {type(kwds).__name__}, not a dict")
        return cls(data['fun_name'], data['fun_module'], args, kwds)

    def __repr__(self) -> str:
        return f"NetConstructor({self.fun_module}.{self.fun_name}, args={self.args}, kwds={self.kwds})"


def model_constructor(function):
    """Decorator: registers `function` as a network builder; the network it returns gets a
    `constructor` attribute that can rebuild it."""

    @functools.wraps(function)
    def build(*args, **kwds):
        net = function(*args, **kwds)
        net.constructor = NetConstructor(function.__name__, function.__module__, args, kwds)
        return net

    _REGISTRY[(function.__module__, function.__name__)] = build
    return build
