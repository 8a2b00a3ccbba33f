"""Records how a network was built, as plain data, so checkpoints can rebuild it; the registry of
network builders, by name (timm's `register_model` is the anchor).

A builder decorated with :func:`register_model` (or made by :func:`register_variant`, a builder with
other default arguments) enters the registry under its name and attaches a :class:`NetConstructor` to
the network it returns. Its :meth:`NetConstructor.to_dict` form (module, function, args, kwargs)
contains only plain Python values, so checkpoints load with ``torch.load(weights_only=True)``.
The network packages register their builders themselves, when imported; this module names none.

Rebuilding trusts nothing in the file: the stored name must be a registered builder (or an alias of
one: a deprecated name, or the 'module.function' path that older checkpoints stored) and its
arguments must be plain data (None, bool, int, float, str and lists, tuples and str-keyed dicts of
them). A stored module is imported only when it belongs to this package (its top-level package is
one of OWN_PACKAGES) and exists, so importing it runs this package's own code, never the file's;
anything else (``ltr.admin.loading.load_network``, ``torch.hub.load``, ``os.system``) raises
:class:`UntrustedConstructorError` before any import of the stored module.
"""
import functools
import importlib
import importlib.util
import math
import re
import warnings
from typing import Any, Callable, Dict, Iterable, Optional

from ltr.admin.limits import bound

# The top-level packages of this repository: a checkpoint may make us import only their modules.
OWN_PACKAGES = ('ltr', 'rgbt', 'pytracking')

_REGISTRY: Dict[str, Callable] = {}
_ALIASES: Dict[str, str] = {}
_MODULE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')


class UntrustedConstructorError(ValueError):
    """A stored constructor names a function outside the registry or has non-plain arguments."""


def registered_builders() -> Dict[str, Callable]:
    """Every registered network builder by name (of the network packages imported so far)."""
    return dict(sorted(_REGISTRY.items()))


def _import_own_module(module: str) -> None:
    """Imports `module` when it is a module of this package that exists; otherwise does nothing (the
    lookup that follows then refuses the name)."""
    if not isinstance(module, str) or not _MODULE_NAME.match(module) or module.split('.')[0] not in OWN_PACKAGES:
        return
    try:
        if importlib.util.find_spec(module) is None:
            return
    except (ImportError, ValueError):
        return
    importlib.import_module(module)


def resolve_builder(fun_module: str, fun_name: str) -> Callable:
    """The registered builder that a stored (module, name) names; UntrustedConstructorError for
    anything else. The name is looked up first, then its aliases and 'module.name'; a builder not
    registered yet is looked for in the stored module, when that is one of this package's."""
    for attempt in range(2):
        for key in (fun_name, f'{fun_module}.{fun_name}'):
            name = _ALIASES.get(key, key)
            if isinstance(name, str) and name in _REGISTRY:
                return _REGISTRY[name]
        if attempt == 0:
            _import_own_module(fun_module)
    raise UntrustedConstructorError(
        f"constructor {fun_module}.{fun_name} is not one of this package's network builders "
        f"({', '.join(registered_builders()) or 'none imported'}); refusing to call it")


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


def _register(name: str, build: Callable, aliases: Iterable[str]) -> None:
    if name in _REGISTRY and _REGISTRY[name] is not build:
        warnings.warn(f"network builder {name!r} registered again; the later one ({build.__module__}) replaces "
                      f"the earlier ({_REGISTRY[name].__module__})", stacklevel=3)
    _REGISTRY[name] = build
    _ALIASES[f'{build.__module__}.{name}'] = name
    for alias in aliases:
        _ALIASES[alias] = name


def _recording(function: Callable, name: str, defaults: Optional[Dict[str, Any]] = None) -> Callable:
    """`function` called with `defaults` under the caller's arguments, its network given a
    constructor that records `name` and the caller's own arguments."""

    @functools.wraps(function)
    def build(*args, **kwds):
        net = function(*args, **dict(defaults or {}, **kwds))
        net.constructor = NetConstructor(name, function.__module__, args, kwds)
        return net

    build.__name__ = build.__qualname__ = name
    return build


def register_model(function: Optional[Callable] = None, *, name: Optional[str] = None, aliases: Iterable[str] = ()):
    """Decorator: registers `function` as a network builder under `name` (default: its own name), with
    deprecated `aliases` that still resolve; the network it returns gets a `constructor` that can
    rebuild it. A name registered twice warns, and the later builder wins (as timm's registry)."""
    def decorate(function: Callable) -> Callable:
        registered = name or function.__name__
        build = _recording(function, registered)
        _register(registered, build, aliases)
        return build
    return decorate(function) if function is not None else decorate


def register_variant(name: str, base: Callable, doc: str = '', aliases: Iterable[str] = (), **defaults) -> Callable:
    """Registers `name`: the builder `base` (a function, not itself registered) with other default
    arguments (`defaults`); the caller's arguments still win. Variants that differ only in values are
    so written as their difference, not as a copy of a constructor."""
    build = _recording(base, name, defaults)
    build.__doc__ = doc or base.__doc__
    build.variant_defaults = dict(defaults)
    _register(name, build, aliases)
    return build


# The decorator's pytracking name.
model_constructor = register_model
