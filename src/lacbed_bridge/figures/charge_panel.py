"""Figure (b): the charge-transfer panel — one F-43m crystal at four charge transfers δ.

One crystal of an F-43m (zincblende) family of ``results/variants`` is taken (GaAs if the family
has it, else its first variant) and only its valence populations are changed: a transfer δ
[e per formula unit] from the cation to the anion sites with
:func:`lacbed_bridge.crystal.variants.transfer_charges` (for the two-site zincblende
P_v(cation) = P_v,0 − δ, P_v(anion) = P_v,0 + δ; GaAs: P_v(Ga) = 3 − δ, P_v(As) = 5 + δ, DESIGN §3).
Elements, lattice parameter, U_iso and κ stay those of the CIF. For each δ the panel shows

* the EDD image (the config's EDD settings, :func:`lacbed_bridge.edd.images.edd_settings`) and
  its change from δ = 0,
* the LACBED (000) disc simulated with the builtin Bloch-wave solver and the dataset's own beam
  choice (:func:`lacbed_bridge.simulate.run.simulate` with the config's pool, symmetry and
  convergence control; Felix has no charge model, DESIGN §3) and the ``edd2lacbed`` model's prediction from that EDD,
* the change of each LACBED from its δ = 0 image, so the charge signal (a few per cent in |F200|)
  is visible; its colour scale is shared by the simulated and predicted rows.

Every value is in display units with the dataset-wide constants (:mod:`.common`). With no F-43m
family the first family whose prototype has cation and anion sites is used, and the title says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..crystal.charge import neutral_valence
from ..crystal.cif import read_cif
from ..crystal.model import Crystal
from ..crystal.prototypes import Prototype, load_prototypes
from ..crystal.variants import transfer_charges
from ..dataset.splits import canonical_group
from ..errors import InputError
from .common import (
    DISPLAY_LABELS,
    DatasetView,
    ModelRun,
    display,
    draw_image,
    edd_extent,
    find_model_runs,
    lacbed_extent,
    load_dataset,
    new_figure,
    not_available,
    pick_model,
    symmetric_limit,
)

#: Charge transfers shown [e per formula unit].
DEFAULT_DELTAS = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
TARGET_GROUP = "F-43m"
PREFERRED_FORMULA = "Ga As"


@dataclass
class ChargeSource:
    """The crystal the panel varies: its family, CIF, prototype and a note for the title."""

    family: str
    sample_id: str
    cif: Path
    prototype: Prototype
    note: str = ""


@dataclass
class ChargeSeries:
    """Images of one crystal at several δ (raw physical units) and what produced them.

    Attributes
    ----------
    source: the crystal chosen.
    deltas: δ applied [e per formula unit] (after the transfer limits, see ``transfer_charges``).
    pv: per δ, the valence population P_v [e] per site label.
    edd: per δ, the EDD image [e/Å²].
    lacbed: per δ, the simulated (000) disc [intensity per unit incident beam].
    predicted: per δ, the edd2lacbed model's prediction, or None (``reason`` says why).
    run: the model used.
    """

    source: ChargeSource
    deltas: list[float]
    pv: list[dict[str, float]]
    edd: list[np.ndarray]
    lacbed: list[np.ndarray]
    predicted: list[np.ndarray] | None
    run: ModelRun | None
    field_of_view: float
    reason: str | None = None


def _family_order(results: Path, config: Mapping[str, Any]) -> list[Path]:
    """variants.csv files: the config's family order first, then any other folder by name."""
    root = results / "variants"
    names = [f["name"] for f in config.get("families") or [] if isinstance(f, Mapping) and "name" in f]
    found = sorted(p.parent.name for p in root.glob("*/variants.csv")) if root.is_dir() else []
    ordered = [n for n in names if n in found] + [n for n in found if n not in names]
    return [root / n / "variants.csv" for n in ordered]


def _prototype(config: Mapping[str, Any], family: str, key: Any) -> Prototype | None:
    family_cfg = next((f for f in config.get("families") or [] if f.get("name") == family), {})
    key = family_cfg.get("prototype", key)
    if not isinstance(key, str) or not key:
        return None
    prototypes = load_prototypes(family_cfg.get("prototypes_file"))
    return prototypes.get(key)


def _has_transfer(prototype: Prototype) -> bool:
    roles = {s.role for s in prototype.sites}
    return "cation" in roles and "anion" in roles


def choose_crystal(results: str | os.PathLike[str], config: Mapping[str, Any]) -> ChargeSource | None:
    """The crystal of the panel: an F-43m family's GaAs (else its first variant); without an F-43m
    family, the first family whose prototype has cation and anion sites (noted); else None."""
    candidates: list[tuple[str, pd.DataFrame, Prototype]] = []
    for csv in _family_order(Path(results), config):
        table = pd.read_csv(csv, dtype={"sample_id": str})
        if table.empty or "sample_id" not in table:
            continue
        key = table["prototype"].iloc[0] if "prototype" in table else None
        prototype = _prototype(config, csv.parent.name, key)
        if prototype is None or not _has_transfer(prototype):
            continue
        candidates.append((csv.parent.name, table, prototype))
    if not candidates:
        return None
    target = [c for c in candidates if canonical_group(c[2].spacegroup) == TARGET_GROUP]
    family, table, prototype = (target or candidates)[0]
    note = "" if target else f"no {TARGET_GROUP} family; using {family} ({canonical_group(prototype.spacegroup)})"
    table = table.sort_values("sample_id", kind="stable")
    rows = table[table["formula"] == PREFERRED_FORMULA] if "formula" in table else table.iloc[:0]
    sample_id = str((rows if len(rows) else table)["sample_id"].iloc[0])
    cif = Path(results) / "variants" / family / f"{sample_id}.cif"
    if not cif.is_file():
        raise InputError("CIF of a listed variant missing", path=cif)
    return ChargeSource(family, sample_id, cif, prototype, note)


def with_transfer(crystal: Crystal, prototype: Prototype, delta: float) -> tuple[Crystal, float]:
    """The crystal with P_v set for a transfer δ [e per formula unit] from cations to anions.

    P_v = P_v,0(element) − q with q from :func:`transfer_charges` (roles and multiplicities of the
    prototype's sites, matched by label); κ, U_iso, elements and cell are kept. Returns the crystal
    and the δ actually applied.
    """
    by_label = {s.label: s for s in prototype.sites}
    missing = [s.label for s in crystal.sites if s.label not in by_label]
    if missing:
        raise InputError(f"site label(s) {missing} not in prototype {prototype.key!r}", field="_atom_site_label")
    roles = [by_label[s.label].role for s in crystal.sites]
    mult = [by_label[s.label].multiplicity for s in crystal.sites]
    elements = [s.element for s in crystal.sites]
    charges, applied = transfer_charges(roles, elements, mult, float(delta), prototype.formula_units())
    sites = tuple(replace(s, pv=round(neutral_valence(s.element) - q, 10)) for s, q in zip(crystal.sites, charges, strict=True))
    return replace(crystal.with_sites(sites), name=f"{crystal.name}_delta{applied:.4f}"), applied


def charge_series(results: str | os.PathLike[str], config: Mapping[str, Any], *,
                  deltas: Sequence[float] = DEFAULT_DELTAS, device: str = "cpu") -> ChargeSeries | None:
    """Compute the panel's images (None when no family has cation and anion sites)."""
    from ..edd.images import edd_settings
    from ..simulate.run import BuiltinOptions, simulate
    from ..simulate.settings import FelixSettings
    from ..surrogate.predict import load_model, predict_arrays

    source = choose_crystal(results, config)
    if source is None:
        return None
    base = read_cif(source.cif)
    settings = FelixSettings.from_config(dict(config["simulation"]))
    thickness_index = int(config["simulation"].get("thickness_index", 0))
    projection = edd_settings(config)
    crystals, applied, pvs = [], [], []
    for delta in deltas:
        crystal, d = with_transfer(base, source.prototype, delta)
        crystals.append(crystal)
        applied.append(d)
        pvs.append({s.label: float(s.pv) for s in crystal.sites})
    edd = [np.asarray(projection.image(c)[0], dtype=np.float32) for c in crystals]
    # the dataset's own beam choice (symmetric pool, convergence control) with the builtin backend
    options = BuiltinOptions.from_config(config["simulation"])
    lacbed = [np.asarray(simulate(c, settings, device=device, options=options).disc(thickness_index=thickness_index),
                         dtype=np.float32) for c in crystals]
    fov = projection.field_of_view or float(base.cell[0])
    run = pick_model(find_model_runs(results), "edd2lacbed", config)
    predicted, reason = None, None
    if run is None:
        reason = "no edd2lacbed model under models/"
    else:
        model, desc = load_model(run.checkpoint, device)
        if int(desc["side"]) != edd[0].shape[0]:
            reason = f"the model's image side {desc['side']} differs from the config's {edd[0].shape[0]}"
        else:
            predicted = predict_arrays(model, edd, desc)
    return ChargeSeries(source, applied, pvs, edd, lacbed, predicted, run, fov, reason)


def _pv_text(pv: Mapping[str, float], elements: Mapping[str, str]) -> str:
    """``P_v(Ga) = 2.67, P_v(As) = 5.33`` (site labels shown by their element)."""
    return ", ".join(f"P$_v$({elements[label]}) = {value:.2f}" for label, value in pv.items())


def plot_charge_panel(results: str | os.PathLike[str], config: Mapping[str, Any], *, dataset: DatasetView | None = None,
                      deltas: Sequence[float] = DEFAULT_DELTAS, device: str = "cpu") -> Figure:
    """Figure (b) as a matplotlib Figure."""
    dataset = dataset or load_dataset(results)
    series = charge_series(results, config, deltas=deltas, device=device)
    n = len(deltas)
    row_names = ["edd", "edd_diff", "sim", "pred", "sim_diff", "pred_diff"]
    fig = new_figure(2.1 * n + 1.6, 2.0 * len(row_names) + 1.0)
    axes = fig.subplots(len(row_names), n, squeeze=False)
    if series is None:
        for ax in axes.ravel():
            ax.set_axis_off()
        not_available(axes[0, 0], "no family with cation and anion sites in results/variants")
        fig.suptitle("Charge transfer δ: EDD and LACBED", fontsize=11)
        return fig
    norm = dataset.normalisation
    edd = [display("edd", im, norm) for im in series.edd]
    sim = [display("lacbed", im, norm) for im in series.lacbed]
    pred = [display("lacbed", im, norm) for im in series.predicted] if series.predicted is not None else None
    edd_diff = [im - edd[0] for im in edd]
    sim_diff = [im - sim[0] for im in sim]
    pred_diff = [im - pred[0] for im in pred] if pred is not None else None
    lac_limit = symmetric_limit(sim_diff + (pred_diff or []))
    edd_limit = symmetric_limit(edd_diff)
    e_ext = edd_extent(series.field_of_view)
    l_ext = lacbed_extent(config["simulation"]["outer_convergence_angle"])
    content = {
        "edd": (edd, "edd", e_ext, None, "EDD"),
        "edd_diff": (edd_diff, "difference", e_ext, edd_limit, "EDD(δ) − EDD(0)"),
        "sim": (sim, "lacbed", l_ext, None, "LACBED simulated\n(builtin Bloch wave)"),
        "pred": (pred, "lacbed", l_ext, None, "LACBED predicted\n(edd2lacbed)"),
        "sim_diff": (sim_diff, "difference", l_ext, lac_limit, "simulated(δ) −\nsimulated(0)"),
        "pred_diff": (pred_diff, "difference", l_ext, lac_limit, "predicted(δ) −\npredicted(0)"),
    }
    base = read_cif(series.source.cif)
    elements = {s.label: s.element for s in base.sites}
    for r, name in enumerate(row_names):
        images, kind, extent, limit, title = content[name]
        if images is None:
            for ax in axes[r]:
                ax.set_axis_off()
            not_available(axes[r, 0], series.reason or "no prediction")
            axes[r, 0].set_title(title.replace("\n", " "), fontsize=8, loc="left")
            continue
        last = None
        for c in range(n):
            ax = axes[r, c]
            last = draw_image(ax, images[c], kind, extent=extent, limit=limit, gid=f"charge:{name}:{series.deltas[c]:.6f}")
            ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(f"δ = {series.deltas[c]:.2f} e\n{_pv_text(series.pv[c], elements)}", fontsize=7)
            if c == 0:
                ax.set_ylabel(title, fontsize=8)
            else:
                ax.set_yticks([])
            ax.set_xlabel("x [Å]" if extent is e_ext else "k$_x$ [Å$^{-1}$]", fontsize=7)
        bar = fig.colorbar(last, ax=list(axes[r]), location="right", shrink=0.9, aspect=15)
        bar.set_label(DISPLAY_LABELS.get(kind, "change of the display value"), fontsize=7)
        bar.ax.tick_params(labelsize=6)
    model = f"{series.run.model}, seed {series.run.seed}" if series.run else "no model"
    title = (f"Charge transfer δ in {base.formula or series.source.sample_id} ({canonical_group(base.spacegroup)}, "
             f"a = {base.cell[0]:.4f} Å; {series.source.sample_id}); prediction: {model}")
    if series.source.note:
        title += f"\n{series.source.note}"
    fig.suptitle(title, fontsize=9)
    return fig
