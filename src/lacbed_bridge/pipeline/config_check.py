"""The whole-config check that runs before any job: ``lacbed-bridge check-config`` and the workflow
(``workflow/rules/common.smk``) call the one function :func:`check_workflow_config`, so a config
that passes one passes the other.

On top of the schema (types, ranges, name patterns) it checks what only the config as a whole can
show: names that collide, output folders that would overwrite the working directory or the
file-system root, the families and the simulation's physics
(:func:`lacbed_bridge.simulate.run.check_config`), the image side the surrogate networks can take,
the split fractions and whether the training split will exist. Light to import: every Snakemake call runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def check_names(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> None:
    """Family names are folder names and words of the workflow's commands: the schema restricts
    their characters; here two names that differ only in case are refused too (they would share
    their folders on a case-insensitive file system, e.g. macOS or Windows)."""
    seen: dict[str, int] = {}
    for i, family in enumerate(config["families"]):
        key = str(family["name"]).casefold()
        if key in seen:
            other = config["families"][seen[key]]["name"]
            same = "is used twice" if other == family["name"] else f"differs from {other!r} (families[{seen[key]}]) only in case"
            raise ConfigError(f"family name {family['name']!r} {same} (names are folder names and sample ids must be unique)",
                              path=path, field=f"families[{i}].name")
        seen[key] = i


def check_output_folders(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> None:
    """``output.results`` and ``output.logs`` must name a folder of their own: not the working
    directory (the workflow would write ``dataset/``, ``benchmarks/`` … beside the user's files) and
    not the file-system root."""
    here = Path.cwd().resolve()
    for key in ("results", "logs"):
        value = str(config["output"][key])
        folder = Path(value).expanduser()
        resolved = (folder if folder.is_absolute() else here / folder).resolve()
        if resolved == here:
            raise ConfigError(f"value {value!r} is the working directory itself; give a folder of its own (e.g. {key})",
                              path=path, field=f"output.{key}")
        if resolved == Path(resolved.anchor):
            raise ConfigError(f"value {value!r} is the file-system root; give a folder of its own (e.g. {key})",
                              path=path, field=f"output.{key}")


def check_image_side(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> None:
    """The workflow trains U-Nets on 2·pixel_count px images: a power of two of at least 32 px."""
    from ..surrogate.config import check_side

    pixel_count = config["simulation"]["pixel_count"]
    try:
        check_side(2 * pixel_count)
    except ConfigError as exc:
        raise ConfigError(f"value {pixel_count} gives an image side of {2 * pixel_count} px; the workflow trains U-Nets: "
                          f"{exc.message} (pixel_count 16, 32, 64, 128)", path=path, field="simulation.pixel_count") from None


def family_groups(config: dict[str, Any], prototypes: list[list[Any]] | None = None) -> list[str]:
    """The space groups of the families' crystals, without white space (``F-43m``), sorted: from
    each family's ``prototypes`` when given (what :func:`lacbed_bridge.simulate.run.check_config`
    returns), else each family checked as the variants rule would
    (:func:`lacbed_bridge.crystal.variants.check_family`)."""
    from ..crystal.variants import check_family
    from ..dataset.splits import canonical_group

    if prototypes is None:
        prototypes = [check_family(family, f"families[{i}]") for i, family in enumerate(config["families"])]
    return sorted({canonical_group(p.spacegroup) for family in prototypes for p in family})


def available_splits(config: dict[str, Any], groups: list[str] | None = None) -> list[str]:
    """The split names the dataset stage will write for this config: ``random_<i>`` for
    ``dataset.random_splits`` and ``loso_<group>`` for the held-out space groups (``"all"``: every
    group of the families, when there are at least two; ``groups``: :func:`family_groups`)."""
    from ..dataset.cli import DatasetSettings
    from ..dataset.splits import canonical_group, loso_split_name, random_split_name

    settings = DatasetSettings.from_config(config)
    groups = family_groups(config) if groups is None else groups
    if settings.loso_groups == "all":
        held_out = groups if len(groups) >= 2 else []
    else:
        held_out = [canonical_group(g) for g in settings.loso_groups]
    return [random_split_name(i) for i in range(settings.random_splits)] + [loso_split_name(g) for g in held_out]


def check_dataset_and_training(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None,
                               groups: list[str] | None = None) -> None:
    """What the dataset job and the training jobs would find out late: split fractions that are not
    three non-negative numbers summing to 1, a held-out space group no family has (or the only one),
    and a training split the dataset will not have (``groups``: :func:`family_groups`)."""
    from ..dataset.cli import DatasetSettings
    from ..dataset.splits import _check_fractions, canonical_group
    from ..errors import InputError

    settings = DatasetSettings.from_config(config)
    try:
        _check_fractions(settings.split_fractions)
    except InputError as exc:
        raise ConfigError(exc.message, path=path, field="dataset.split_fractions") from None
    groups = family_groups(config) if groups is None else groups
    if settings.loso_groups != "all":
        for j, group in enumerate(settings.loso_groups):
            if canonical_group(group) not in groups:
                raise ConfigError(f"space group {group!r} is not among the families' ({', '.join(groups)})",
                                  path=path, field=f"dataset.loso_groups[{j}]")
            if len(groups) == 1:
                raise ConfigError(f"space group {group!r} is the only one of the families: nothing would be left to train on",
                                  path=path, field=f"dataset.loso_groups[{j}]")
    names = available_splits(config, groups)
    for block in ("train", "estimator"):  # the image models' split and the charge estimator's
        split = str((config.get(block) or {}).get("split", "random_0"))
        if split not in names:
            raise ConfigError(f"split {split!r} will not be in the dataset; it will have {', '.join(names) or 'no split'} "
                              "(dataset.random_splits, dataset.loso_groups)", path=path, field=f"{block}.split")


def check_workflow_config(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> None:
    """Check a schema-validated config (:func:`lacbed_bridge.config.validate_config`) as a whole,
    before any job; raises :class:`ConfigError` naming the file, the key and what was expected."""
    from ..simulate.run import check_config

    check_names(config, path=path)
    check_output_folders(config, path=path)
    prototypes = check_config(config, path=path)  # each family checked once
    check_image_side(config, path=path)
    check_dataset_and_training(config, path=path, groups=family_groups(config, prototypes))
