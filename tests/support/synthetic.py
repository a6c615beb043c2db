"""Small real inputs for the dataset and surrogate tests, written with ``lacbed_bridge.io.write_tiff``.

The images are smooth and physical-looking, not random noise:

* EDD: the [001] projection of a zincblende-like cell — periodic Gaussian columns of weight Z_A at
  (0, 0), (½, ½) and Z_B at (¼, ¼), (¾, ¾) (projected positions of the 4a and 4c sites), with the
  charge transfer δ moved from A to B columns [e/Å² up to a constant];
* LACBED: a (000)-disc-like pattern — a smooth envelope with two-beam-like fringes whose period
  follows the lattice parameter and whose contrast follows δ (intensity per unit beam, ≤ 1).

Both are deterministic functions of the variant row, so a network can learn EDD ↔ LACBED.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lacbed_bridge.io import write_tiff

SPACEGROUPS = {"F-43m_zincblende": ("F -4 3 m", "zincblende"), "Fm-3m_rocksalt": ("F m -3 m", "rocksalt"), "Pm-3m_perovskite": ("P m -3 m", "perovskite")}


def edd_image(side: int, z_a: float, z_b: float, delta: float, width: float = 0.06) -> np.ndarray:
    """Projected density of Gaussian columns on a periodic side × side grid over one cell."""
    u = (np.arange(side) + 0.5) / side
    x, y = np.meshgrid(u, u, indexing="xy")
    img = np.zeros((side, side))
    for (cx, cy), w in (((0, 0), z_a - delta), ((0.5, 0.5), z_a - delta), ((0.25, 0.25), z_b + delta), ((0.75, 0.75), z_b + delta)):
        dx = (x - cx + 0.5) % 1.0 - 0.5
        dy = (y - cy + 0.5) % 1.0 - 0.5
        img += w * np.exp(-(dx**2 + dy**2) / (2 * width**2)) / (2 * np.pi * width**2)
    return img.astype(np.float32)


def lacbed_image(side: int, a: float, delta: float) -> np.ndarray:
    """A smooth (000)-disc-like intensity with fringes set by a [Å] and δ [e]."""
    u = (np.arange(side) - side / 2 + 0.5) / (side / 2)
    kx, ky = np.meshgrid(u, u, indexing="xy")
    r2 = kx**2 + ky**2
    fringes = 0.5 + 0.3 * np.cos(2 * np.pi * a * (kx + 0.5 * ky)) + 0.15 * delta * np.cos(2 * np.pi * a * ky)
    return (np.exp(-0.3 * r2) * fringes).astype(np.float32)


def make_family(root: Path, family: str, n: int, *, side: int = 32, seed: int = 0, start: int = 0, charge_states: int = 1) -> Path:
    """Write variants.csv, EDD and LACBED images of ``n`` variants of ``family`` under ``root``.

    With ``charge_states`` K > 1 the variants come as charge series (as ``families[].charge_states``):
    K consecutive variants share a, Z and the base_id, δ runs over 0..1, and a deformation image
    (the δ-dependent part of the EDD, as ρ − ρ_IAM) is written under ``deformation/``.
    """
    spacegroup, prototype = SPACEGROUPS.get(family, ("P 1", "custom"))
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(start, start + n):
        sid = f"{family}_{i:06d}"
        state = (i - start) % charge_states
        if state == 0:
            a = float(rng.uniform(5.4, 5.9))
            delta = float(rng.uniform(0.0, 1.0))  # (drawn in this order: the single-state data stay as they were)
            z_a, z_b = float(rng.choice([30, 31, 48])), float(rng.choice([33, 34, 51]))
            base = sid
        if charge_states > 1:
            delta = state / (charge_states - 1)
        row = {"sample_id": sid, "family": family, "prototype": prototype, "spacegroup": spacegroup, "formula": f"Z{int(z_a)} Z{int(z_b)}", "a": a, "delta": delta, "kappa": 1.0, "u_iso": 0.008}
        meta = {"sample_id": sid, "thickness": 500.0, "voltage_kv": 200.0, "package_version": "test"}
        write_tiff(root / "edd" / family / f"{sid}.tif", edd_image(side, z_a, z_b, delta), {**meta, "backend": "gemmi", "seconds": 0.01})
        write_tiff(root / "lacbed" / family / f"{sid}.tif", lacbed_image(side, a, delta), {**meta, "backend": "builtin", "seconds": 2.5})
        if charge_states > 1:
            row.update(base_id=base, charge_state=state)
            deformation = edd_image(side, z_a, z_b, delta) - edd_image(side, z_a, z_b, 0.0)
            write_tiff(root / "deformation" / family / f"{sid}.tif", deformation, {**meta, "kind": "deformation", "backend": "gemmi", "seconds": 0.01})
        rows.append(row)
    csv = root / "variants" / family / "variants.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def make_results(root: Path, counts: dict[str, int] | None = None, *, side: int = 32, charge_states: int = 1) -> list[Path]:
    """Several families under ``root``; returns their variants.csv paths."""
    counts = counts or {"F-43m_zincblende": 6, "Fm-3m_rocksalt": 4, "Pm-3m_perovskite": 4}
    return [make_family(root, fam, n, side=side, seed=k, charge_states=charge_states) for k, (fam, n) in enumerate(counts.items())]
