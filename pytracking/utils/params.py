"""Tracker parameters: every key declared once with its default; unknown keys are rejected, so a
typo in a parameter file is an error instead of a silently ignored setting."""
from typing import Any, Dict


class TrackerParams:
    def __init__(self, defaults: Dict[str, Any], **overrides):
        object.__setattr__(self, '_defaults', dict(defaults))
        object.__setattr__(self, '_values', dict(defaults))
        self.update(**overrides)

    def update(self, **overrides) -> 'TrackerParams':
        unknown = sorted(set(overrides) - set(self._defaults))
        if unknown:
            raise KeyError(f"unknown tracker parameter(s) {unknown}; known: {sorted(self._defaults)}")
        self._values.update(overrides)
        return self

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no tracker parameter {name!r}") from None

    def __setattr__(self, name: str, value) -> None:
        self.update(**{name: value})

    def get(self, name: str, default=None):
        return self._values.get(name, default)

    def has(self, name: str) -> bool:
        return name in self._values

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._values)
