"""Variant families: crystals sampled from a prototype with a seed (docs/architecture.md §1, §3).

A family (one item of ``families`` in config.yaml, keys in src/lacbed_bridge/schemas/config.schema.yaml)
names a prototype of ``felix_inputs/prototypes.yaml`` (or a folder of the user's CIFs, ``cif_dir``:
one prototype per CIF, :mod:`.user_cifs`) and ranges to sample from. Variant ``i`` of
family ``F`` has the sample id ``F_<i as 6 digits>`` and draws, from its own random stream
``PCG64(SeedSequence([family_seed, i]))`` (so a variant does not change when ``n_variants``
changes), in this order:

1. an element per site from the family's list for that site label (default the prototype's);
2. a lattice scale s ~ U(lattice_scale); every cell length L = L_ref(chosen compound) × s [Å],
   where L_ref comes from :meth:`~lacbed_bridge.crystal.prototypes.Prototype.reference`;
3. U_iso ~ U(u_iso) [Å²] per site;
4. a charge transfer δ ~ U(delta) [e per formula unit] from the cation to the anion sites;
5. κ ~ U(kappa) per site (in a charge series redrawn per state from the state's own stream,
   unless ``kappa_per: series`` keeps the base crystal's κ for every state);
6. for non-cubic cells, a factor t_L ~ U(cell_scale[L]) per free length other than a (b, c, in
   that order), so L = L_ref × s × t_L (c/a varies by t_c); angles keep their reference values;
7. each free coordinate named in ``coordinates`` (prototype order) ~ U(coordinates[name]); the
   others keep their reference value (wurtzite u, rutile x, ...).

Draws 6 and 7 exist only where the family asks for them, so a cubic family's stream is as before.
Values are rounded to 6 decimals (cell lengths [Å], angles [deg], coordinates, U_iso [Å²], δ [e],
κ) so the CIF and the table agree.

**Charge model** (Hansen–Coppens, docs/architecture.md §3): P_v = P_v,0 − q, where P_v,0 is the neutral
atom's valence count (:func:`~lacbed_bridge.crystal.charge.neutral_valence`) and q the atom's
charge [e]. A transfer δ per formula unit moves T = δ · Z_f electrons per conventional cell
(Z_f = formula units per cell = gcd of the site multiplicities) from the cation atoms to the
anion atoms, shared equally per atom, i.e. by site multiplicity: every cation atom loses
T / N_cation, every anion atom gains T / N_anion (N = atoms of that role per cell). For GaAs
(Z_f = 4, 4 Ga, 4 As) this is P_v(Ga) = 3 − δ, P_v(As) = 5 + δ; for SrTiO3 Sr and Ti lose δ/2
each and each O gains δ/3. The cell stays neutral: Σ_cell q = 0, i.e. Σ_cell (Z − q) = Σ_cell Z.

Limits: a cation atom cannot give more than its valence electrons (P_v ≥ 0) and an anion atom
takes at most what closes its shell (P_v ≤ 8, or 2 for H/He). An atom at its limit keeps it and
the rest is shared among the others of its role ("water filling"); if the whole role cannot give
or take T, the transfer is reduced to what it can, and the table's ``delta`` is the δ actually
applied. Sites with role ``neutral``, and families whose prototype lacks cation or anion sites
(diamond, bcc metals), keep P_v = P_v,0 and δ = 0.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import schema_defaults
from ..errors import ConfigError, InputError
from ..io import write_text_atomic
from .charge import neutral_valence
from .cif import element_from_type_symbol, write_cif
from .model import Crystal, Site
from .lattice import CELL_KEYS, LENGTHS, cell_volume, lattice_system
from .prototypes import Prototype, check_wyckoff, load_prototype, prototype_keys
from .user_cifs import check_roles, cif_files, prototype_from_cif

_RANGE_KEYS = ("lattice_scale", "u_iso", "delta", "kappa")
_DECIMALS = 6


def family_defaults() -> dict[str, Any]:
    """Defaults of a ``families`` item, read from the config schema (single source)."""
    return schema_defaults("families.items")


def family_seed(family_cfg: dict[str, Any], master_seed: int) -> int:
    """The family's seed: its ``seed`` key, else sha256(master seed, name) (stable across runs)."""
    if family_cfg.get("seed") is not None:
        return int(family_cfg["seed"])
    digest = hashlib.sha256(f"{int(master_seed)}:{family_cfg['name']}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def sample_id(family_name: str, index: int) -> str:
    """``<family name>_<6-digit index>`` (docs/architecture.md §1)."""
    return f"{family_name}_{index:06d}"


def sample_ids(family_cfg: dict[str, Any]) -> list[str]:
    """All sample ids of a family, without generating anything."""
    return [sample_id(family_cfg["name"], i) for i in range(int(family_cfg["n_variants"]))]


def shell_capacity(element: str) -> float:
    """Electrons an anion atom can take [e]: up to a closed shell, P_v ≤ 8 (2 for H, He)."""
    z_shell = 2.0 if element in ("H", "He") else 8.0
    return max(0.0, z_shell - neutral_valence(element))


def _water_fill(total: float, caps: Sequence[float], counts: Sequence[int]) -> list[float]:
    """Per-atom amounts a_i ≤ caps[i], equal where not capped, with Σ counts[i]·a_i = total.

    ``total`` must not exceed Σ counts·caps.
    """
    amounts = [0.0] * len(caps)
    active = [i for i, c in enumerate(caps) if c > 0 and counts[i] > 0]
    remaining = total
    while active and remaining > 0:
        share = remaining / sum(counts[i] for i in active)
        capped = [i for i in active if caps[i] < share]
        if not capped:
            for i in active:
                amounts[i] = share
            break
        for i in capped:
            amounts[i] = caps[i]
            remaining -= caps[i] * counts[i]
            active.remove(i)
    return amounts


def transfer_charges(
    roles: Sequence[str], elements: Sequence[str], multiplicities: Sequence[int], delta: float, formula_units: int
) -> tuple[list[float], float]:
    """Per-site atomic charge q [e] (positive = electrons lost) for a transfer δ [e/formula unit].

    See the module docstring for the rule. Returns (q per site, δ actually applied).
    """
    cations = [i for i, r in enumerate(roles) if r == "cation"]
    anions = [i for i, r in enumerate(roles) if r == "anion"]
    charges = [0.0] * len(roles)
    if not cations or not anions or delta <= 0:
        return charges, 0.0
    give = [neutral_valence(elements[i]) for i in cations]
    take = [shell_capacity(elements[i]) for i in anions]
    m_c = [multiplicities[i] for i in cations]
    m_a = [multiplicities[i] for i in anions]
    total = min(
        delta * formula_units,
        sum(g * m for g, m in zip(give, m_c, strict=True)),
        sum(t * m for t, m in zip(take, m_a, strict=True)),
    )
    for i, q in zip(cations, _water_fill(total, give, m_c), strict=True):
        charges[i] = q
    for i, q in zip(anions, _water_fill(total, take, m_a), strict=True):
        charges[i] = -q
    return charges, total / formula_units


def _range(family_cfg: dict[str, Any], key: str, where: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in family_cfg[key])
    if lo > hi:
        raise ConfigError(f"range [{lo}, {hi}] has its lower end above the upper end", field=f"{where}.{key}")
    return lo, hi


def _element_choices(family_cfg: dict[str, Any], prototype: Prototype, where: str) -> dict[str, tuple[str, ...]]:
    override = family_cfg.get("elements") or {}
    unknown = sorted(set(override) - set(prototype.labels))
    if unknown:
        raise ConfigError(
            f"unknown site label(s) {unknown}; prototype {prototype.key!r} has sites {list(prototype.labels)}",
            field=f"{where}.elements",
        )
    choices = {}
    for site in prototype.sites:
        symbols = tuple(override.get(site.label, site.elements))
        for symbol in symbols:
            if element_from_type_symbol(symbol, item=f"{where}.elements.{site.label}") != symbol:
                raise ConfigError(f"expected a neutral element symbol, got {symbol!r}", field=f"{where}.elements.{site.label}")
            neutral_valence(symbol)  # raises InputError for an element outside the charge model
        choices[site.label] = symbols
    return choices


def resolve_prototype(family_cfg: dict[str, Any], where: str) -> Prototype:
    """The family's prototype, reading and checking only its own entry of the prototype file (a
    bad entry elsewhere does not stop this family). ConfigError for an unknown key."""
    key = family_cfg["prototype"]
    path = family_cfg.get("prototypes_file")
    known = prototype_keys(path)
    if key not in known:
        raise ConfigError(f"unknown prototype {key!r} (known: {', '.join(sorted(known))})", field=f"{where}.prototype")
    return load_prototype(key, path)


def _cell_ranges(family_cfg: dict[str, Any], prototype: Prototype, where: str, strict: bool = True) -> dict[str, tuple[float, float]]:
    """``cell_scale`` ranges, only for free cell lengths other than a (in b, c order). A length the
    lattice fixes is an error (``strict``, prototype families) or skipped (CIF families, whose CIFs
    may be of several crystal systems)."""
    raw = family_cfg.get("cell_scale") or {}
    allowed = [n for n in prototype.cell_parameters if n in ("b", "c")]
    unknown = sorted(set(raw) - set(allowed))
    if unknown and strict:
        system = lattice_system(prototype.gemmi_spacegroup())
        raise ConfigError(f"cell length(s) {unknown} are not free in the {system} cell of prototype {prototype.key!r} "
                          f"(free lengths besides a: {allowed or 'none'}; a varies by lattice_scale)",
                          field=f"{where}.cell_scale")
    return {name: _range(raw, name, f"{where}.cell_scale") for name in allowed if name in raw}


def _coordinate_ranges(family_cfg: dict[str, Any], prototype: Prototype, where: str) -> dict[str, tuple[float, float]]:
    """``coordinates`` ranges of free coordinates, checked: each end keeps every site on its
    Wyckoff position (the multiplicity does not change)."""
    raw = family_cfg.get("coordinates") or {}
    unknown = sorted(set(raw) - set(prototype.free_names))
    if unknown:
        raise ConfigError(f"unknown free coordinate(s) {unknown}; prototype {prototype.key!r} has "
                          f"{list(prototype.free_names) or 'none'}", field=f"{where}.coordinates")
    ranges = {name: _range(raw, name, f"{where}.coordinates") for name in prototype.free_names if name in raw}
    reference = dict(prototype.free)
    for name, ends in ranges.items():
        for end in ends:
            try:
                check_wyckoff(prototype, reference | {name: end}, field=f"{where}.coordinates.{name}")
            except InputError as exc:
                raise ConfigError(f"{name} = {end}: {exc.message}", field=exc.field) from None
    return ranges


@dataclass(frozen=True)
class _Plan:
    """What sampling needs from one prototype (a CIF family has one per CIF)."""

    prototype: Prototype
    choices: dict[str, tuple[str, ...]]
    cell_ranges: dict[str, tuple[float, float]]
    coordinate_ranges: dict[str, tuple[float, float]]
    symops: tuple[str, ...]
    roles: list[str]
    multiplicities: list[int]
    formula_units: int

    @classmethod
    def of(cls, cfg: dict[str, Any], prototype: Prototype, where: str) -> _Plan:
        strict = cfg.get("cif_dir") is None
        return cls(prototype, _element_choices(cfg, prototype, where), _cell_ranges(cfg, prototype, where, strict),
                   _coordinate_ranges(cfg, prototype, where), prototype.symops(), [s.role for s in prototype.sites],
                   [s.multiplicity for s in prototype.sites], prototype.formula_units())


def family_prototypes(family_cfg: dict[str, Any], where: str) -> list[Prototype]:
    """The family's prototypes: its ``prototype`` entry, or one per CIF of its ``cif_dir``.

    Exactly one of the two keys must be given. A CIF family takes ``roles`` (element → cation |
    anion | neutral) and no ``elements`` or ``coordinates``; with a δ range above 0 it needs a
    cation and an anion among its roles (otherwise its charge transfer would silently be 0).
    """
    has_prototype, has_cifs = family_cfg.get("prototype") is not None, family_cfg.get("cif_dir") is not None
    if has_prototype == has_cifs:
        raise ConfigError("give exactly one of `prototype` (an entry of the prototype file) or `cif_dir` "
                          "(a folder of your own CIFs)", field=where)
    if has_prototype:
        if family_cfg.get("roles"):
            raise ConfigError("`roles` is for CIF families (cif_dir); a prototype entry gives each site its role",
                              field=f"{where}.roles")
        return [resolve_prototype(family_cfg, where)]
    for key in ("elements", "coordinates", "prototypes_file"):
        if family_cfg.get(key):
            raise ConfigError(f"`{key}` is for prototype families; a CIF family takes its elements and coordinates "
                              "from the CIFs", field=f"{where}.{key}")
    roles = check_roles(family_cfg.get("roles") or {}, where)
    delta = (family_defaults() | dict(family_cfg))["delta"]
    if float(delta[1]) > 0 and not {"cation", "anion"} <= set(roles.values()):
        raise ConfigError("a CIF family with a charge transfer (delta above 0) needs `roles` naming at least one cation "
                          "and one anion element, e.g. {Ga: cation, As: anion}; or set delta: [0, 0]", field=f"{where}.roles")
    return [prototype_from_cif(path, roles) for path in cif_files(family_cfg["cif_dir"], where)]


def _plan_family(cfg: dict[str, Any], where: str) -> tuple[list[_Plan], dict[str, tuple[float, float]]]:
    """Everything sampling needs that the config alone decides, checked: the prototypes, element
    choices (known symbols and site labels), cell and coordinate ranges, the ranges in order, the
    charge states dividing the variants. ``cfg``: a family with the schema's defaults filled in."""
    plans = [_Plan.of(cfg, prototype, where) for prototype in family_prototypes(cfg, where)]
    ranges = {key: _range(cfg, key, where) for key in _RANGE_KEYS}
    states = int(cfg["charge_states"])
    if int(cfg["n_variants"]) % states:
        raise ConfigError(f"n_variants {cfg['n_variants']} is not a multiple of charge_states {states} (K states per base crystal)",
                          field=f"{where}.n_variants")
    return plans, ranges


def check_family(family_cfg: dict[str, Any], where: str) -> list[Prototype]:
    """Check one ``families`` item as :func:`generate_family` would before drawing any variant
    (the whole-config check runs this for every family, before any job); returns its prototypes."""
    plans, _ = _plan_family(family_defaults() | dict(family_cfg), where)
    return [plan.prototype for plan in plans]


def generate_family(family_cfg: dict[str, Any], master_seed: int) -> list[tuple[Crystal, dict[str, Any]]]:
    """Sample every variant of a family: (crystal, its table row) in index order.

    ``family_cfg`` is one ``families`` item of the config (missing keys take the schema
    defaults); ``master_seed`` is the config's ``seed`` (used when the family has no ``seed``).
    """
    cfg = family_defaults() | dict(family_cfg)
    name = cfg["name"]
    where = f"families[{name}]"
    plans, ranges = _plan_family(cfg, where)
    seed = family_seed(cfg, master_seed)
    states = int(cfg["charge_states"])
    out: list[tuple[Crystal, dict[str, Any]]] = []
    for index in range(int(cfg["n_variants"])):
        # a charge series: K consecutive variants share one base crystal (elements, a, U_iso
        # from the base's stream); δ runs evenly over its range and κ is drawn per state (or kept
        # from the base's stream for every state: kappa_per "series")
        base, state = divmod(index, states)
        # a CIF family cycles through its CIFs, one per base crystal; a prototype family has one plan
        plan = plans[base % len(plans)]
        prototype, choices, cell_ranges, coordinate_ranges = plan.prototype, plan.choices, plan.cell_ranges, plan.coordinate_ranges
        symops, roles, mult, z_f = plan.symops, plan.roles, plan.multiplicities, plan.formula_units
        spacegroup_number = prototype.number
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, base if states > 1 else index])))
        elements = {s.label: str(rng.choice(choices[s.label])) for s in prototype.sites}
        scale = float(rng.uniform(*ranges["lattice_scale"]))
        reference = prototype.reference(elements)
        u_iso = [round(float(rng.uniform(*ranges["u_iso"])), _DECIMALS) for _ in prototype.sites]
        delta = round(float(rng.uniform(*ranges["delta"])), _DECIMALS)
        kappa = [round(float(rng.uniform(*ranges["kappa"])), _DECIMALS) for _ in prototype.sites]
        # draws 6 and 7 (module docstring), after the cubic ones so those streams are unchanged
        factors = {key: float(rng.uniform(*cell_ranges[key])) for key in cell_ranges}
        values = {key: round(float(rng.uniform(*coordinate_ranges[key])) if key in coordinate_ranges
                             else reference[key], _DECIMALS) for key in prototype.free_names}
        for key in prototype.cell_parameters:
            factor = scale * factors.get(key, 1.0) if key in LENGTHS else 1.0
            values[key] = round(reference[key] * factor, _DECIMALS)
        cell = prototype.full_cell(values)
        if states > 1:
            lo, hi = ranges["delta"]
            delta = round(lo + (hi - lo) * state / (states - 1), _DECIMALS)
            if cfg.get("kappa_per", "state") == "state":
                state_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, base, state, 1])))
                kappa = [round(float(state_rng.uniform(*ranges["kappa"])), _DECIMALS) for _ in prototype.sites]
        element_list = [elements[s.label] for s in prototype.sites]
        charges, delta_applied = transfer_charges(roles, element_list, mult, delta, z_f)
        pv = [round(neutral_valence(el) - q, 10) for el, q in zip(element_list, charges, strict=True)]
        sid = sample_id(name, index)
        sites = tuple(
            Site(s.label, element_list[i], tuple(round(v, 10) for v in s.position(values)), 1.0, u_iso[i], pv[i], kappa[i])
            for i, s in enumerate(prototype.sites)
        )
        formula = prototype.formula(elements)
        crystal = Crystal(
            name=sid,
            cell=cell,
            spacegroup=prototype.spacegroup,
            sites=sites,
            symops=symops,
            formula=formula,
            cell_volume=cell_volume(cell),
        )
        row: dict[str, Any] = {
            "sample_id": sid,
            "family": name,
            "index": index,
            "prototype": prototype.key,
            "spacegroup": prototype.spacegroup,
            "spacegroup_number": spacegroup_number,
            "formula": formula,
            **dict(zip(CELL_KEYS, cell, strict=True)),
            "lattice_scale": scale,
            "delta": round(delta_applied, 10),
            "seed": seed,
            "base_id": sample_id(name, base * states),  # the first state names the series
            "charge_state": state,
        }
        for prefix, per_site in (("element", element_list), ("u_iso", u_iso), ("kappa", kappa), ("pv", pv)):
            for site, value in zip(prototype.sites, per_site, strict=True):
                row[f"{prefix}_{site.label}"] = value
        for key in prototype.free_names:
            row[f"coord_{key}"] = values[key]
        out.append((crystal, row))
    return out


def find_family(config: dict[str, Any], family_name: str) -> dict[str, Any]:
    """The ``families`` item called ``family_name`` (ConfigError listing the known names)."""
    families = config.get("families") or []
    for family in families:
        if family.get("name") == family_name:
            return family
    known = ", ".join(f.get("name", "?") for f in families) or "(none)"
    raise ConfigError(f"unknown family {family_name!r} (known: {known})", field="families")


def write_family(config: dict[str, Any], family_name: str, out_dir: str | os.PathLike[str]) -> Path:
    """Generate a family of ``config`` and write ``<sample_id>.cif`` per variant and ``variants.csv``.

    Every file is written atomically; same config → byte-identical files. Returns the path of
    ``variants.csv`` (one row per variant; columns as in :func:`generate_family`). Files of an
    earlier, larger run in ``out_dir`` are left in place: the table lists the current variants.
    """
    family = find_family(config, family_name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for crystal, row in generate_family(family, int(config["seed"])):
        write_cif(crystal, out / f"{crystal.name}.cif")
        rows.append(row)
    table = pd.DataFrame(rows)
    csv_path = out / "variants.csv"
    write_text_atomic(csv_path, table.to_csv(index=False, lineterminator="\n"))
    return csv_path

