"""Loading and validating ``config.yaml`` against the schema shipped in the package
(``lacbed_bridge/schemas/config.schema.yaml``).

The schema is the documentation of every key (type, default, unit). :func:`load_config` returns
the validated dict with schema defaults filled in; an invalid file raises
:class:`~lacbed_bridge.errors.ConfigError` naming the key path, the value and what was expected.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import ConfigError

if TYPE_CHECKING:
    import jsonschema

#: The config JSON schema (YAML), package data: it ships in the wheel and works from any folder.
SCHEMA_PATH = Path(str(resources.files("lacbed_bridge") / "schemas" / "config.schema.yaml"))


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The config JSON schema (YAML file)."""
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _strict_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """The schema's validator, with "integer" meaning a YAML integer: JSON Schema counts 16.0 as an
    integer, but a float in an integer key (pixel_count: 16.0, epochs: 1.0) would reach the code as a
    float and fail there with a TypeError, so it is refused here, naming the key."""
    import jsonschema  # here, not at the top: the settings objects read only the schema's defaults

    base = jsonschema.validators.validator_for(schema)

    def is_integer(checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    def pattern(validator: Any, regex: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        # JSON Schema's "$" is the end of the string; Python's re (which jsonschema uses) also lets
        # "$" match before a final newline, so "name\n" would pass "^[a-z]+$" and reach a shell
        # command or a file name. An anchored pattern is checked to the very end (\Z).
        if not isinstance(instance, str):
            return
        anchored = regex[:-1] + r"\Z" if regex.endswith("$") and not regex.endswith(r"\$") else regex
        if re.search(anchored, instance) is None:
            yield jsonschema.ValidationError(f"{instance!r} does not match {regex!r}")

    strict = jsonschema.validators.extend(base, validators={"pattern": pattern},
                                          type_checker=base.TYPE_CHECKER.redefine("integer", is_integer))
    return strict(schema)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (("." if parts else "") + str(p)))
    return "".join(parts) or "(top level)"


def validate_config(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Validate ``config``; return a deep copy with schema defaults filled in.

    Raises :class:`ConfigError` with the first error: key path, offending value, expectation.
    """
    where = _first_non_finite(config)
    if where is not None:
        key, value = where
        raise ConfigError(f"value {value} is not a finite number (YAML .nan/.inf or an overflowing literal such as 1e999)",
                          path=path, field=key)
    schema = load_schema()
    validator = _strict_validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        err = errors[0]
        key = _key_path(err)
        if err.validator == "additionalProperties":
            msg = f"unknown key(s): {err.message}"
        elif err.validator == "required":
            msg = f"missing key: {err.message}"
        else:
            msg = f"value {json.dumps(err.instance, default=str)} is invalid: {err.message}"
            desc = err.schema.get("description") if isinstance(err.schema, dict) else None
            if desc:
                msg += f" (expected: {desc.strip()})"
        raise ConfigError(msg, path=path, field=key)
    out = copy.deepcopy(config)
    _fill_defaults(out, schema, schema)
    return out


def _first_non_finite(node: Any, key: str = "") -> tuple[str, float] | None:
    """The first float that is NaN or ±inf, with its key path: the schema's minimum/maximum let NaN
    through (every comparison with NaN is false), and inf overflows where a count is derived from it."""
    if isinstance(node, float) and not math.isfinite(node):
        return key or "(top level)", node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, value in items:
        found = _first_non_finite(value, f"{key}[{k}]" if isinstance(k, int) else (f"{key}.{k}" if key else str(k)))
        if found is not None:
            return found
    return None


def _fill_defaults(node: Any, schema: dict[str, Any], root: dict[str, Any]) -> None:
    schema = _resolved(schema, root)
    if isinstance(node, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key not in node and isinstance(sub, dict) and "default" in sub:
                node[key] = copy.deepcopy(sub["default"])
            if key in node:
                _fill_defaults(node[key], sub, root)
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for item in node:
            _fill_defaults(item, schema["items"], root)


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's default of every key of one config section (``"train"``, ``"simulation.felix"``):
    the one place defaults are written. The settings objects of the stages take theirs from here."""
    root = load_schema()
    node: dict[str, Any] = root
    for part in section.split("."):  # "items" steps into an array's items ("families.items")
        node = _resolved(node, root)
        node = node.get("items") if part == "items" else node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            raise KeyError(f"the config schema has no section {section!r}")
    properties = _resolved(node, root).get("properties", {})
    return {key: copy.deepcopy(sub["default"]) for key, sub in properties.items() if isinstance(sub, dict) and "default" in sub}


def section_settings(config: Any, section: str) -> dict[str, Any]:
    """One section of a config over the schema's defaults (``"edd"``, ``"simulation.felix"``): a
    validated config already holds them all; a hand-made mapping gets the same defaults."""
    values = schema_defaults(section)
    node = config
    for part in section.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        values.update(node)
    return values


def _resolved(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return root["$defs"][schema["$ref"].split("/")[-1]]
    return schema


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file and validate it (see :func:`validate_config`)."""
    from .io import read_yaml

    p = Path(path)
    data = read_yaml(p, missing="config file not found", error=ConfigError)
    if not isinstance(data, dict):
        raise ConfigError(f"expected a YAML mapping at the top level, got {type(data).__name__}", path=p)
    return validate_config(data, path=p)


def config_hash(section: Any) -> str:
    """A stable sha256 of a config section (sorted-key JSON), for provenance and caching."""
    text = json.dumps(section, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()

