"""How well the fit recovers the charge from discs as an experiment records them (benchmarks/refine.py).

Each scenario makes noisy discs of held-back crystals — drawn with a seed of their own from the
zincblende prototype (GaAs-like: Ga/Al on the cation, As/P on the anion site), δ in [0.2, 0.8] e and
κ(cation) in [0.97, 1.03] — as a detector records them (refine/synthetic.py: the exact disc at the
wave vectors its pixels see, blurred with scipy, Poisson counts), and fits them the way a user
would, from δ 0.2 e off and the thickness 2 % off; where κ is not free it is held at the truth (a
user who knows it; held at 1 instead, δ is off by ~0.09 e RMS with σ ≈ 0.015: measured, docs/refine.md),
where it is free it starts at 1:

* ``centred``: the disc on the grid, δ and thickness free;
* ``offset 1 px``: the disc one pixel off in x and 0.6 px in y, the centre free too;
* ``offset + blur``: the same with a 0.8 px Gaussian PSF, the blur free too;
* ``kappa, one disc``: centred [001] at 500 Å, δ, κ(cation) and thickness free;
* ``kappa, joint``: the same [001] disc with a [110] disc at 900 Å, fitted together (refine/joint.py).

Per scenario: the RMS error of δ (and κ), the mean stated σ, the coverage (fraction of errors
within 1σ and 2σ: 68 % and 95 % if the σ are right), χ²/dof and the wall time per fit.

:func:`calibration` asks the σ question with enough fits to answer it: one held-back crystal, one
scenario, many Poisson draws of the same disc. If the stated σ are right, the z-scores
(δ̂ − δ)/σ have standard deviation 1 and 68 % / 95 % lie within 1 / 2; counted over every fit and
over the fits the report does not flag (converged, no parameter on a bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..crystal.model import Crystal
from ..simulate.settings import LacbedSettings
from .fit import FitResult, fit_disc, poisson_disc
from .joint import JointModel
from .model import DiscModel, Roles
from .optics import OpticsGeometry
from .synthetic import simulate_observation

#: the second zone axis of the joint scenario ([110], the normal along the beam)
ALONG_110 = {"incident_beam_direction": (1, 1, 0), "x_direction": (1, -1, 0), "normal_direction": (1, 1, 0)}


@dataclass(frozen=True)
class Scenario:
    """A way a disc is recorded and fitted: its optics, the free parameters, the experiments
    (settings overrides per disc; two or more: a joint fit)."""

    name: str
    free: tuple[str, ...]
    geometry: OpticsGeometry = OpticsGeometry()
    experiments: tuple[dict[str, Any], ...] = ({},)


SCENARIOS = (
    Scenario("centred", ("delta", "thickness")),
    Scenario("offset 1 px", ("delta", "thickness", "centre_x", "centre_y"), OpticsGeometry(centre_x=1.0, centre_y=-0.6)),
    Scenario("offset + blur", ("delta", "thickness", "centre_x", "centre_y", "blur"),
             OpticsGeometry(centre_x=1.0, centre_y=-0.6, blur=0.8)),
    Scenario("kappa, one disc", ("delta", "kappa:cation", "thickness")),
    Scenario("kappa, joint", ("delta", "kappa:cation", "thickness"),
             experiments=({}, {"initial_thickness": 900.0, "final_thickness": 900.0, **ALONG_110})),
)


def held_back_crystals(n: int, seed: int) -> list[tuple[Crystal, float, float]]:
    """``n`` zincblende crystals (crystal, δ, κ of the cation) drawn with ``seed``."""
    from ..crystal.variants import generate_family

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        delta, kappa = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.97, 1.03))
        family = {"name": f"held_back_{i}", "prototype": "zincblende", "n_variants": 1, "delta": [delta, delta],
                  "kappa": [1.0, 1.0], "elements": {"A": ["Ga", "Al"], "B": ["As", "P"]}}
        crystal = generate_family(family, int(rng.integers(2**31)))[0][0]
        crystal = crystal.with_sites(tuple(replace(s, kappa=kappa if s.label == "A" else 1.0) for s in crystal.sites))
        out.append((crystal, delta, kappa))
    return out


def _start(crystal: Crystal, delta: float, keep_kappa: bool) -> Crystal:
    """δ 0.2 e below the truth (P_v moved by the sharing rule); κ the truth's or every κ = 1."""
    from ..crystal.charge import neutral_valence

    sites = []
    for s in crystal.sites:
        pv0 = neutral_valence(s.element)
        # zincblende: one cation and one anion per formula unit, so P_v = P_v,0 ∓ δ
        pv = pv0 - (delta - 0.2) if s.label == "A" else pv0 + (delta - 0.2)
        sites.append(replace(s, pv=pv, kappa=s.kappa if keep_kappa else 1.0))
    return crystal.with_sites(tuple(sites))


def run_scenario(scenario: Scenario, truth: Crystal, delta: float, kappa: float, settings: LacbedSettings, *,
                 counts: float, seed: int) -> dict[str, Any]:
    """One noisy observation of ``truth`` under ``scenario``, fitted; the row of the table."""
    roles = Roles({"A": "cation", "B": "anion"}, 4)
    discs, models = [], []
    for i, overrides in enumerate(scenario.experiments):
        true_settings = replace(settings, **overrides)
        discs.append(poisson_disc(simulate_observation(truth, true_settings, scenario.geometry), counts, seed=seed + i))
        t0 = true_settings.thicknesses[0] * 0.98
        start_settings = replace(true_settings, initial_thickness=t0, final_thickness=t0)
        start = _start(truth, delta, keep_kappa=not any(n.startswith("kappa") for n in scenario.free))
        models.append(DiscModel(start, start_settings, list(scenario.free), roles=roles))
    began = time.perf_counter()
    result: FitResult
    if len(models) == 1:
        result = fit_disc(models[0], discs[0], counts=counts)
    else:
        result = fit_disc(JointModel(models), np.concatenate([d.reshape(-1) for d in discs])[None], counts=counts,
                          fit_scale=False, fit_background=False)
    row = {"scenario": scenario.name, "crystal": truth.name, "seed": seed, "delta_true": delta,
           "delta": result.value("delta"), "delta_sigma": result.uncertainty("delta"),
           "reduced_chi2": result.reduced_chi2, "seconds": time.perf_counter() - began, "converged": result.converged,
           "flagged": not result.converged or bool(result.at_bounds)}
    if "kappa:cation" in scenario.free:
        row.update(kappa_true=kappa, kappa=result.value("kappa:cation"), kappa_sigma=result.uncertainty("kappa:cation"))
    return row


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario: RMS error, mean σ, coverage within 1σ and 2σ, mean χ²/dof and time."""
    out = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == name]
        line: dict[str, Any] = {"scenario": name, "n": len(mine)}
        for key in ("delta", "kappa"):
            if key not in mine[0]:
                continue
            errors = np.array([r[key] - r[f"{key}_true"] for r in mine])
            sigmas = np.array([r[f"{key}_sigma"] for r in mine])
            line.update({f"{key}_rmse": float(np.sqrt(np.mean(errors**2))), f"{key}_sigma_mean": float(np.mean(sigmas)),
                         f"{key}_within_1sigma": float(np.mean(np.abs(errors) <= sigmas)),
                         f"{key}_within_2sigma": float(np.mean(np.abs(errors) <= 2 * sigmas))})
        line["reduced_chi2_mean"] = float(np.mean([r["reduced_chi2"] for r in mine]))
        line["seconds_per_fit"] = float(np.mean([r["seconds"] for r in mine]))
        out.append(line)
    return out


def scenario_table(settings: LacbedSettings, *, n_crystals: int, counts: float = 1e4, seed: int = 2024,
                   scenarios: tuple[Scenario, ...] = SCENARIOS,
                   progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every scenario on ``n_crystals`` held-back crystals; returns (rows, summary per scenario)."""
    rows = []
    for i, (truth, delta, kappa) in enumerate(held_back_crystals(n_crystals, seed)):
        for scenario in scenarios:
            row = run_scenario(scenario, truth, delta, kappa, settings, counts=counts, seed=seed + 10 * i)
            rows.append(row)
            if progress is not None:
                kappa_text = f", κ {row['kappa']:.4f} ± {row['kappa_sigma']:.4f} (true {kappa:.4f})" if "kappa" in row else ""
                progress(f"{scenario.name:16s} {truth.name:24s} δ {row['delta']:.3f} ± {row['delta_sigma']:.3f} "
                         f"(true {delta:.3f}){kappa_text}, χ²/dof {row['reduced_chi2']:.2f}, {row['seconds']:.0f} s")
    return rows, summarise(rows)


def format_summary(summary: list[dict[str, Any]]) -> str:
    """The table the benchmark prints."""
    lines = [f"{'scenario':16s} {'n':>2s} {'δ RMSE':>8s} {'mean σ_δ':>9s} {'≤1σ':>5s} {'≤2σ':>5s} {'κ RMSE':>8s} {'mean σ_κ':>9s} "
             f"{'≤1σ':>5s} {'χ²/dof':>7s} {'s/fit':>6s}"]
    for s in summary:
        kappa = (f"{s['kappa_rmse']:8.4f} {s['kappa_sigma_mean']:9.4f} {100 * s['kappa_within_1sigma']:4.0f}%"
                 if "kappa_rmse" in s else f"{'—':>8s} {'—':>9s} {'—':>5s}")
        lines.append(f"{s['scenario']:16s} {s['n']:2d} {s['delta_rmse']:8.4f} {s['delta_sigma_mean']:9.4f} "
                     f"{100 * s['delta_within_1sigma']:4.0f}% {100 * s['delta_within_2sigma']:4.0f}% {kappa} "
                     f"{s['reduced_chi2_mean']:7.2f} {s['seconds_per_fit']:6.1f}")
    return "\n".join(lines)


def calibration(scenario: Scenario, settings: LacbedSettings, *, fits: int, counts: float = 1e4,
                seed: int = 2024) -> dict[str, Any]:
    """``fits`` Poisson draws of one held-back crystal's disc under ``scenario``, each fitted (module
    docstring); the z-scores of δ with their spread and coverage, over all fits and unflagged ones."""
    truth, delta, kappa = held_back_crystals(1, seed)[0]
    rows = [run_scenario(scenario, truth, delta, kappa, settings, counts=counts, seed=seed + 1000 + i) for i in range(fits)]
    out: dict[str, Any] = {"scenario": scenario.name, "crystal": truth.name, "delta_true": delta, "fits": fits,
                           "seconds_per_fit": float(np.mean([r["seconds"] for r in rows]))}
    for subset, chosen in (("all", rows), ("unflagged", [r for r in rows if not r["flagged"]])):
        z = np.array([(r["delta"] - r["delta_true"]) / r["delta_sigma"] for r in chosen])
        out[subset] = {"n": len(z), "z_std": float(np.sqrt(np.mean(z**2))) if len(z) else float("nan"),
                       "within_1sigma": float(np.mean(np.abs(z) <= 1)) if len(z) else float("nan"),
                       "within_2sigma": float(np.mean(np.abs(z) <= 2)) if len(z) else float("nan"),
                       "sigma_mean": float(np.mean([r["delta_sigma"] for r in chosen])) if len(z) else float("nan")}
    return out


def format_calibration(result: dict[str, Any]) -> str:
    """One line per subset: how well the stated σ of δ covers the errors."""
    lines = []
    for subset in ("all", "unflagged"):
        c = result[subset]
        lines.append(f"{result['scenario']:16s} {subset:9s} {c['n']:3d} fits: RMS z {c['z_std']:.2f} (1 if σ is right), "
                     f"{100 * c['within_1sigma']:.0f} % within 1σ, {100 * c['within_2sigma']:.0f} % within 2σ, "
                     f"mean σ_δ {c['sigma_mean']:.4f} e")
    return "\n".join(lines)
