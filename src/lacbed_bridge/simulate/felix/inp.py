"""Felix's input files, ``felix.inp`` and ``felix.hkl`` (layout of Felix master 9034b2a).

``felix.inp`` is read by Felix **by line position, value from column 28**: :func:`format_felix_inp`
writes exactly the reference layout and :func:`parse_felix_inp` reads it back (by key, checking the
layout). The settings themselves, with their Felix names, are :class:`~..settings.LacbedSettings`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ...errors import InputError
from ..settings import _LAYOUT, VALUE_COLUMN, LacbedSettings, Vector


def _format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ",".join(str(int(v)) for v in value) + "]"
    if isinstance(value, float):
        text = repr(value)
        return text
    return str(value)


def format_felix_inp(settings: LacbedSettings) -> str:
    """felix.inp text in the exact positional layout of Felix master 9034b2a (value at column 28)."""
    lines = []
    for key, fname in _LAYOUT:
        if fname is None:
            lines.append(key)
        else:
            lines.append(f"{key:<{VALUE_COLUMN - 3}} = {_format_value(getattr(settings, fname))}")
    return "\n".join(lines) + "\n"


_VECTOR = re.compile(r"^\[\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\]$")


def parse_felix_inp(path: str | os.PathLike[str]) -> LacbedSettings:
    """Read a felix.inp file.

    Values are taken from column 28 of each ``KEY = value`` line (as Felix does). The keys must
    appear in Felix's order, since Felix itself reads by line position; a missing, unknown or
    misplaced key is an :class:`InputError` naming the key.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise InputError("file not found (expected Felix's felix.inp)", path=p) from None
    expected = [(key.split(" ")[0], fname) for key, fname in _LAYOUT if fname]
    found: list[tuple[str, str, int]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in line:
            raise InputError(f"line {lineno}: expected 'KEY = value', got {line!r}", path=p)
        key = line.split("=", 1)[0].split()[0]
        value = line[VALUE_COLUMN - 1 :].strip() if len(line) >= VALUE_COLUMN else ""
        if not value or line[: VALUE_COLUMN - 1].rstrip().endswith("=") is False:
            # tolerate other spacing but say so if the value is not at column 28
            raise InputError(
                f"line {lineno}: value must start at column {VALUE_COLUMN} (Felix reads by column)", path=p, field=key
            )
        found.append((key, value, lineno))
    names = [k for k, _, _ in found]
    known = {k for k, _ in expected}
    for key, _, lineno in found:
        if key not in known:
            raise InputError(f"line {lineno}: unknown felix.inp key", path=p, field=key)
    for key, _ in expected:
        if key not in names:
            raise InputError("missing key (Felix reads felix.inp by line position)", path=p, field=key)
    if names != [k for k, _ in expected]:
        for (want, _), got in zip(expected, names):
            if want != got:
                raise InputError(f"key out of place: expected {want} here (Felix reads by line position)", path=p, field=got)
    kwargs: dict[str, Any] = {}
    defaults = LacbedSettings()
    for (key, fname), (_, raw, lineno) in zip(expected, found):
        default = getattr(defaults, fname)
        try:
            if isinstance(default, tuple):
                match = _VECTOR.match(raw.replace(" ", ""))
                if not match:
                    raise ValueError
                kwargs[fname] = tuple(int(g) for g in match.groups())
            elif isinstance(default, bool):
                kwargs[fname] = bool(int(raw))
            elif isinstance(default, int):
                kwargs[fname] = int(raw)
            elif isinstance(default, float):
                kwargs[fname] = float(raw.replace("d", "e").replace("D", "e"))
            else:
                kwargs[fname] = raw
        except ValueError:
            kind = "[h,k,l]" if isinstance(default, tuple) else type(default).__name__
            raise InputError(f"line {lineno}: expected {kind}, got {raw!r}", path=p, field=key) from None
    return LacbedSettings(**kwargs).validate(path=p)


def read_felix_hkl(path: str | os.PathLike[str]) -> list[Vector]:
    """Read felix.hkl: one ``[h,k,l]`` per line (the discs to output)."""
    p = Path(path)
    out: list[Vector] = []
    for lineno, line in enumerate(p.read_text().splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        match = _VECTOR.match(s.split()[0].replace(" ", ""))
        if not match:
            raise InputError(f"line {lineno}: expected [h,k,l], got {s!r}", path=p)
        out.append(tuple(int(g) for g in match.groups()))  # type: ignore[arg-type]
    return out


def format_felix_hkl(reflections: list[Vector]) -> str:
    """felix.hkl text: one ``[h,k,l]`` per line."""
    return "".join(f"[{h},{k},{l}]\n" for h, k, l in reflections)
