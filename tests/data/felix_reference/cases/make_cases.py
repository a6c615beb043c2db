#!/usr/bin/env python
"""Regenerate the Felix reference cases and the beam-pool statistics with lacbed-bridge's own code.

This script writes Felix *inputs* only (felix.inp, felix.cif, felix.hkl through
``lacbed_bridge.simulate.felix.write_run_folder``) and, when ``--felix`` is given, runs the Felix
binary named there (an external program, not part of this project) in each case folder with one
MPI rank. It contains no Felix code.

    python make_cases.py cases --out cases --felix /path/to/felix.OPT64NGNU.d
    python make_cases.py pools --out pools.json --felix /path/to/felix.OPT64NGNU.d --jobs 2
    python make_cases.py cases --out cases            # inputs only (no run)

``cases``: 10 prototypes × [001], [110], [111] (pool 200, 50 strong beams) + 3 demo-sized cases
(pool 60, 20 strong beams, [001]) + 2 Bird–King cases. Per case it keeps felix.inp, felix.cif,
felix.hkl, stdout.txt, the Felix output folder with the (000) .bin and StructureFactors.txt, and
case.json.

``pools``: many small runs (2×2 px, 10 Å) of every prototype and compound, the lattice parameter
scaled by a random factor in [0.97, 1.03] (6 significant digits), five beam directions and four
pool sizes. Only the (h, k, l) columns of StructureFactors.txt (Felix's pool, in Felix's order)
are kept, in one JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.simulate.felix.backend import write_run_folder
from lacbed_bridge.simulate.felix.cif import felix_formula_text
from lacbed_bridge.simulate.felix.files import felix_formula, output_folder_name
from lacbed_bridge.simulate.settings import LacbedSettings

U_ISO = 0.005  # Å² on every site (B = 8π²U = 0.3948 Å² in felix.cif)
FELIX_ENV = {"OPENBLAS_NUM_THREADS": "1", "GFORTRAN_UNBUFFERED_PRECONNECTED": "y"}

#: beam direction [uvw] → (x direction (hkl), surface normal [uvw])
DIRECTIONS = {
    "001": ((0, 0, 1), (1, 0, 0), (0, 0, 1)),
    "110": ((1, 1, 0), (1, -1, 0), (1, 1, 0)),
    "111": ((1, 1, 1), (1, -1, 0), (1, 1, 1)),
    "112": ((1, 1, 2), (1, -1, 0), (1, 1, 2)),
    "102": ((1, 0, 2), (2, 0, -1), (1, 0, 2)),
}

BASE = LacbedSettings(
    scatter_factor_method_flag=0,  # Kirkland
    holz_flag=0,
    absorb_flag=1,
    absorption_per=7.8,
    byte_size=8,
    pixel_count=8,  # 16 × 16 px
    min_reflection_pool=200,
    min_strong_beams=50,
    min_weak_beams=0,
    g_limit=0.0,
    debye_waller_constant=0.5,
    outer_convergence_angle=1.0,
    accelerating_voltage=200.0,
    initial_thickness=500.0,
    final_thickness=500.0,
    delta_thickness=100.0,
)


def reference_crystal(prototype, elements=None, a=None):
    """The prototype's crystal: the given compound (default: first listed compound, else the first
    element of each site), neutral atoms, U_iso = 0.005 Å² on every site."""
    if elements is None and prototype.compounds:
        elements = prototype.compounds[0].as_dict()
    return prototype.crystal(elements, a=a, u_iso={s.label: U_ISO for s in prototype.sites})


def oriented(settings: LacbedSettings, direction: str) -> LacbedSettings:
    beam, xdir, normal = DIRECTIONS[direction]
    return replace(settings, incident_beam_direction=beam, x_direction=xdir, normal_direction=normal)


def case_list(prototypes):
    """(name, prototype key, direction, settings) of every reference case."""
    out = []
    for key in prototypes:
        for direction in ("001", "110", "111"):
            out.append((f"{key}_{direction}", key, direction, oriented(BASE, direction)))
    demo = replace(BASE, min_reflection_pool=60, min_strong_beams=20)
    for key in ("zincblende", "rocksalt", "perovskite"):
        out.append((f"{key}_001_pool60", key, "001", oriented(demo, "001")))
    bird_king = replace(BASE, absorb_flag=2)
    out.append(("zincblende_001_birdking", "zincblende", "001", oriented(bird_king, "001")))
    out.append(("fluorite_110_birdking", "fluorite", "110", oriented(bird_king, "110")))
    return out


def run_felix(felix: str, run_dir: Path, timeout: float = 3600) -> tuple[float, int, str]:
    """Run Felix (one rank) in run_dir; stdout to stdout.txt. Returns (wall s, exit code, command)."""
    command = f"OPENBLAS_NUM_THREADS=1 GFORTRAN_UNBUFFERED_PRECONNECTED=y {felix}"
    env = dict(os.environ, **FELIX_ENV)
    start = time.perf_counter()
    with open(run_dir / "stdout.txt", "wb") as out:
        proc = subprocess.run([felix], cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    return time.perf_counter() - start, proc.returncode, command


def prune(run_dir: Path, folder: str, formula: str) -> None:
    """Keep only the inputs, stdout.txt, case.json and <folder>/{(000) .bin, StructureFactors.txt}."""
    keep_top = {"felix.inp", "felix.cif", "felix.hkl", "stdout.txt", "case.json", folder}
    keep_out = {f"{formula}_+0+0+0.bin", "StructureFactors.txt"}
    for p in run_dir.iterdir():
        if p.name not in keep_top:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    if (run_dir / folder).is_dir():
        for p in (run_dir / folder).iterdir():
            if p.name not in keep_out:
                shutil.rmtree(p) if p.is_dir() else p.unlink()


def cmd_cases(args) -> int:
    prototypes = load_prototypes(args.prototypes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name, key, direction, settings in case_list(prototypes):
        if args.only and name not in args.only:
            continue
        proto = prototypes[key]
        crystal = reference_crystal(proto)
        run_dir = out / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        write_run_folder(crystal, settings, run_dir, [(0, 0, 0)])
        formula = felix_formula(felix_formula_text(crystal))
        folder = output_folder_name(felix_formula_text(crystal), settings.initial_thickness, settings.side)
        info = {
            "case": name,
            "prototype": key,
            "compound": crystal.formula,
            "spacegroup": proto.gemmi_name,
            "a_angstrom": crystal.cell[0],
            "u_iso_A2": U_ISO,
            "direction": direction,
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
            "output_folder": folder,
            "disc_000": f"{folder}/{formula}_+0+0+0.bin",
        }
        if args.felix:
            wall, rc, command = run_felix(args.felix, run_dir)
            info.update(wall_time_s=round(wall, 2), exit_code=rc, command=command, mpi_ranks=1)
            ok = rc == 0 and (run_dir / info["disc_000"]).is_file()
            if not ok:
                failures += 1
                print(f"{name}: Felix FAILED (exit {rc}); see {run_dir / 'stdout.txt'}", file=sys.stderr)
            else:
                n_pool = sum(1 for _ in open(run_dir / folder / "StructureFactors.txt"))
                info["pool_size"] = n_pool
                print(f"{name}: {wall:.1f} s, pool {n_pool}", flush=True)
            prune(run_dir, folder, formula)
        (run_dir / "case.json").write_text(json.dumps(info, indent=1) + "\n")
    return 1 if failures else 0


# ----- pool statistics ---------------------------------------------------------------------------
def pool_configs(prototypes, seed: int, repeats: int):
    """Every prototype × compound × direction × pool size, `repeats` random lattice scales each."""
    rng = np.random.Generator(np.random.PCG64(seed))
    configs = []
    for key, proto in prototypes.items():
        compounds = [c.as_dict() for c in proto.compounds] or [None]
        for elements in compounds:
            for direction in DIRECTIONS:
                for pool in (60, 100, 200, 400):
                    for _ in range(repeats):
                        scale = float(f"{rng.uniform(0.97, 1.03):.6g}")
                        configs.append((key, elements, direction, pool, scale))
    return configs


def _pool_run(felix, prototypes, cfg, index, workdir):
    key, elements, direction, pool, scale = cfg
    proto = prototypes[key]
    base = reference_crystal(proto, elements)
    a = round(base.cell[0] * scale, 6)
    crystal = reference_crystal(proto, elements, a=a)
    settings = oriented(
        replace(BASE, pixel_count=1, min_reflection_pool=pool, min_strong_beams=min(10, pool - 1),
                initial_thickness=10.0, final_thickness=10.0),
        direction,
    )
    run_dir = Path(workdir) / f"p{index:05d}"
    write_run_folder(crystal, settings, run_dir, [(0, 0, 0)])
    cif_a = next(line.split()[1] for line in (run_dir / "felix.cif").read_text().splitlines()
                 if line.startswith("_cell_length_a"))
    wall, rc, _ = run_felix(felix, run_dir, timeout=600)
    folder = output_folder_name(felix_formula_text(crystal), settings.initial_thickness, settings.side)
    sf = run_dir / folder / "StructureFactors.txt"
    entry = {
        "id": index,
        "prototype": key,
        "compound": crystal.formula,
        "spacegroup": proto.gemmi_name,
        "centring": proto.spacegroup.strip()[0],
        "a": a,
        "a_cif": cif_a,
        "scale": scale,
        "beam": list(settings.incident_beam_direction),
        "x": list(settings.x_direction),
        "normal": list(settings.normal_direction),
        "voltage_kV": settings.accelerating_voltage,
        "min_pool": pool,
        "g_limit": settings.g_limit,
        "felix_exit": rc,
        "wall_s": round(wall, 2),
    }
    if rc == 0 and sf.is_file():
        hkl = [line.split()[:3] for line in sf.read_text().splitlines() if line.strip()]
        entry["n_pool"] = len(hkl)
        entry["pool"] = " ".join(str(int(v)) for row in hkl for v in row)  # h k l h k l … (Felix's order)
    else:
        entry["pool"] = None
        entry["stdout_tail"] = (run_dir / "stdout.txt").read_text()[-400:]
    shutil.rmtree(run_dir)
    return entry


def cmd_pools(args) -> int:
    if not args.felix:
        print("pools needs --felix", file=sys.stderr)
        return 2
    prototypes = load_prototypes(args.prototypes)
    configs = pool_configs(prototypes, args.seed, args.repeats)
    if args.limit:
        configs = configs[: args.limit]
    workdir = tempfile.mkdtemp(prefix="felix_pools_")
    entries = []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_pool_run, args.felix, prototypes, cfg, i, workdir) for i, cfg in enumerate(configs)]
        for n, fut in enumerate(futures, 1):
            entries.append(fut.result())
            if n % 50 == 0:
                print(f"{n}/{len(configs)} runs, {time.perf_counter() - start:.0f} s", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    doc = {
        "description": "Felix beam pools (h k l of StructureFactors.txt, Felix's order) for cubic prototypes; "
        "inputs written by lacbed-bridge (make_cases.py pools).",
        "felix_commit": "9034b2a9df90cbc35803330531da2e8b5f696b06",
        "seed": args.seed,
        "pool_format": "string of integers h k l h k l ..., Felix's order (np.array(s.split(), int).reshape(-1, 3))",
        "settings_common": {"pixel_count": 1, "thickness_A": 10.0, "absorb_flag": 1, "min_strong_beams": "min(10, pool-1)",
                            "u_iso_A2": U_ISO, "cell_angles_deg": 90.0},
        "entries": entries,
    }
    text = json.dumps(doc, separators=(",", ":"))
    # one entry per line keeps the file diff-friendly
    text = text.replace('},{"id"', '},\n{"id"')
    Path(args.out).write_text(text + "\n")
    bad = sum(e["pool"] is None for e in entries)
    print(f"{len(entries)} entries, {bad} failed, {time.perf_counter() - start:.0f} s")
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases", help="write (and with --felix run) the reference cases")
    c.add_argument("--out", default="cases")
    c.add_argument("--felix", help="path of the Felix binary (omit to write inputs only)")
    c.add_argument("--only", nargs="*", help="case names to (re)make")
    c.add_argument("--prototypes", default=None, help="prototype file (default: the package's)")
    p = sub.add_parser("pools", help="run many small Felix cases and collect their beam pools")
    p.add_argument("--out", default="pools.json")
    p.add_argument("--felix", required=False)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--repeats", type=int, default=1, help="random lattice scales per configuration")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--prototypes", default=None)
    args = parser.parse_args(argv)
    return cmd_cases(args) if args.cmd == "cases" else cmd_pools(args)


if __name__ == "__main__":
    sys.exit(main())
