"""Exceptions with messages meant for users: each names the file, the field and what was expected.

The CLI prints ``str(error)`` of any :class:`LacbedError` and exits with status 2, so no traceback
reaches a user for bad input.
"""

from __future__ import annotations

from os import PathLike


class LacbedError(Exception):
    """Base class of every error the package raises on purpose."""


class InputError(LacbedError, ValueError):
    """Bad input: a file or config value that cannot be used.

    Parameters
    ----------
    message:
        What is wrong and what was expected.
    path:
        The file concerned, if any.
    field:
        The item/key concerned (CIF item, config key, felix.inp key), if any.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, field: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.field = field
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if field is not None:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(InputError):
    """An invalid configuration value (names the key, the value and what was expected)."""


class SimulationError(LacbedError, RuntimeError):
    """A simulation that could not be carried out or produced unusable output."""
