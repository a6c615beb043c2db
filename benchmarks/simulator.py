"""Benchmark: the builtin Bloch-wave simulator, time per pattern, against Felix.

1. The four Felix reference cases (tests/data/felix_reference): builtin wall time per pattern on this
   machine vs the Felix wall time recorded in each case README (same case, same machine class:
   2-vCPU, one MPI rank). Ratio = builtin / Felix (target ≤ 1 on CPU).
2. 128² GaAs [-110] with ≥ 50 and ≥ 150 strong beams (pools of 200 and 600): time per pattern.
   Felix reference per pixel from docs/performance.md, anchors (200/50: 4.6 ms/px measured; for 600/150 the
   geometric mean of the measured 600/100 (42 ms/px) and 600/200 (145 ms/px) is used, labelled
   as an estimate). On CUDA the targets are ≤ 50 ms (50 beams) and ≤ 0.5 s (150 beams).

3. The symmetry speed-up: the demo geometry (config.yaml, 32², 500 Å) with a pool of complete
   shells, rocksalt MgO [001] (4mm) and GaAs [001] (2mm), with and without ``use_symmetry``
   (identical discs, ratio of times).

4. The solvers on the demo's disc: the matrix exponential and the Chebyshev series, complex128
   and complex64, time and max |ΔI| against the exponential in complex128 (:func:`solver_speedup`).

5. The peer: time per tilt on one thread against abTEM's Bloch-wave solver on the same tilts and
   structure matrices, both our solvers (when ``abtem`` is installed, the ``peers`` extra;
   :func:`peer_comparison`).

``--quick`` (≤ 60 s on 2 cores) runs the 64² cases once and the 128² cases on a 32² pixel grid
(same disc, coarser sampling), scaling the time by the pixel count. Prints the figures; the LAST
line is one JSON object.
Usage: python benchmarks/simulator.py [--quick] [--device cpu|cuda] [--repeats N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from lacbed_bridge import __version__
from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "felix_reference"
CASES = ["GaAs_m110_930A_64px_noabs", "GaAs_m110_930A_64px_propabs", "GaAs_m110_930A_64px", "GaAs_m110_3t_128px"]
FELIX_MS_PER_PIXEL = {50: 4.6, 150: math.sqrt(42.0 * 145.0)}  # docs/performance.md, anchors (150: estimate)


def felix_wall_time(case: Path) -> float:
    """The 'Wall time: X s' of a reference case README."""
    text = (case / "README.md").read_text()
    match = re.search(r"Wall time:\**\s*([\d.]+)\s*s", text)
    if not match:
        raise ValueError(f"no wall time in {case / 'README.md'}")
    return float(match.group(1))


def demo_settings():
    """The Felix settings of the demo (config.yaml)."""
    from lacbed_bridge.config import load_config
    from lacbed_bridge.simulate.run import simulation_settings

    return simulation_settings(load_config(Path(__file__).resolve().parents[1] / "config.yaml")).lacbed


def prototype_crystal(key: str, elements: dict[str, str]):
    """A prototype's crystal with the given elements and U_iso 0.008 Å² on every site."""
    from lacbed_bridge.crystal.prototypes import load_prototypes

    proto = load_prototypes()[key]
    return proto.crystal(elements, u_iso={s.label: 0.008 for s in proto.sites})


def timed(fn, device: torch.device, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    device = torch.device(args.device)
    figures: dict[str, object] = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "version": __version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    try:
        figures["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pass
    crystal = read_cif(REFERENCE / CASES[0] / "felix.cif")
    # warm-up (torch kernels, caches)
    warm = dataclasses.replace(parse_felix_inp(REFERENCE / CASES[0] / "felix.inp"), pixel_count=4)
    simulate_builtin(crystal, warm, BuiltinOptions.as_felix(), device=args.device)

    print(f"builtin simulator on {figures['device']} ({device.type}, {figures['threads']} threads)")
    ratios = []
    for name in CASES:
        case = REFERENCE / name
        if not case.is_dir():
            print(f"  {name}: reference data missing, skipped")
            continue
        settings = parse_felix_inp(case / "felix.inp")
        scale = 1.0
        if args.quick and settings.pixel_count > 32:
            scale = (settings.pixel_count / 16) ** 2
            settings = dataclasses.replace(settings, pixel_count=16)
        seconds = timed(lambda: simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device=args.device), device, args.repeats) * scale
        felix = felix_wall_time(case)
        ratio = seconds / felix
        ratios.append(ratio)
        figures[f"{name}_builtin_s"] = seconds
        figures[f"{name}_felix_s"] = felix
        figures[f"{name}_ratio"] = ratio
        note = " (scaled from 32²)" if scale != 1.0 else ""
        print(f"  {name:30s} builtin {seconds:7.2f} s{note}   Felix {felix:6.1f} s   ratio {ratio:.3f}")

    base = parse_felix_inp(REFERENCE / CASES[2] / "felix.inp")
    for beams, pool in ((50, 200), (150, 600)):
        settings = dataclasses.replace(base, pixel_count=64, min_strong_beams=beams, min_reflection_pool=pool)
        scale = 1.0
        if args.quick or device.type == "cpu" and beams > 100:
            scale = 16.0
            settings = dataclasses.replace(settings, pixel_count=16)
        result_holder = {}

        def run() -> None:
            result_holder["r"] = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device=args.device)

        seconds = timed(run, device, args.repeats) * scale
        info = result_holder["r"].info
        felix = FELIX_MS_PER_PIXEL[beams] * 1e-3 * 128 * 128
        figures[f"128px_{beams}beams_builtin_s"] = seconds
        figures[f"128px_{beams}beams_setup_s"] = info["setup_seconds"]
        figures[f"128px_{beams}beams_felix_s"] = felix
        figures[f"128px_{beams}beams_ratio"] = seconds / felix
        figures[f"128px_{beams}beams_mean_beams"] = info["beams_mean"]
        label = "Felix" if beams == 50 else "Felix (est.)"
        note = " (scaled from 32²)" if scale != 1.0 else ""
        print(
            f"  128² ≥{beams} beams (pool {pool}, mean {info['beams_mean']:.1f}): builtin {seconds:7.2f} s{note}"
            f"   {label} {felix:6.1f} s   ratio {seconds / felix:.3f}"
        )
    if ratios:
        figures["max_ratio_reference_cases"] = max(ratios)
    symmetry_speedup(figures, args)
    solver_speedup(figures, args)
    peer_comparison(figures, args)
    print(json.dumps(figures))


def symmetry_speedup(figures: dict[str, object], args: argparse.Namespace) -> None:
    """Time the demo geometry with and without the symmetry speed-up (same disc)."""
    base = demo_settings()
    pool, strong = (200, 60) if args.quick else (base.min_reflection_pool, base.min_strong_beams)
    base = dataclasses.replace(base, min_reflection_pool=pool, min_strong_beams=strong)
    for key, elements in (("rocksalt", {"A": "Mg", "B": "O"}), ("zincblende", {"A": "Ga", "B": "As"})):
        c = prototype_crystal(key, elements)
        out = {}
        for flag in (False, True):
            def run(flag: bool = flag) -> None:
                out[flag] = simulate_builtin(c, base, BuiltinOptions(pool_mode="shells", use_symmetry=flag), device=args.device)
            out[f"t{flag}"] = timed(run, torch.device(args.device), args.repeats)
        diff = float(abs(out[True].disc() - out[False].disc()).max())
        speedup = out["tFalse"] / out["tTrue"]
        name = f"symmetry_{key}_001"
        figures[f"{name}_full_s"] = out["tFalse"]
        figures[f"{name}_sym_s"] = out["tTrue"]
        figures[f"{name}_speedup"] = speedup
        figures[f"{name}_max_diff"] = diff
        figures[f"{name}_group"] = out[True].info["symmetry"]
        print(f"  symmetry {key} [001] ({out[True].info['symmetry']}, pool {pool} / {strong}, {base.side}²): full "
              f"{out['tFalse']:.2f} s, {out[True].info['pixels_solved']} of {base.side ** 2} pixels {out['tTrue']:.2f} s, "
              f"speed-up {speedup:.1f}x, max |dI| {diff:.1e}")


def solver_speedup(figures: dict[str, object], args: argparse.Namespace) -> None:
    """The demo's disc (config.yaml: GaAs [001], 32², 500 Å, its pool and strong beams, the
    symmetry speed-up on, no convergence control) with each solver and precision on all threads:
    time, ratio to the exponential in complex128, and max |ΔI| against it."""
    settings = demo_settings()
    crystal = prototype_crystal("zincblende", {"A": "Ga", "B": "As"})
    device = torch.device(args.device)
    runs = {}
    for solver in ("expm", "chebyshev"):
        for dtype in (torch.complex128, torch.complex64):
            holder = {}

            def run(solver: str = solver, dtype: torch.dtype = dtype, holder: dict = holder) -> None:
                holder["r"] = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", complex_dtype=str(dtype).replace("torch.", ""), use_symmetry=True, solver=solver), device=args.device)
            runs[solver, dtype] = (timed(run, device, args.repeats), holder["r"].disc())
    base_time, base_disc = runs["expm", torch.complex128]
    print(f"  demo disc (GaAs [001], pool {settings.min_reflection_pool} / {settings.min_strong_beams}, {settings.side}², "
          f"{torch.get_num_threads()} threads): time, speed-up over expm complex128, max |dI| against it")
    for (solver, dtype), (seconds, disc) in runs.items():
        label = f"{solver}_{str(dtype).replace('torch.', '')}"
        error = float(np.abs(disc - base_disc).max())
        figures[f"demo_{label}_s"] = seconds
        figures[f"demo_{label}_speedup"] = base_time / seconds
        figures[f"demo_{label}_max_dI"] = error
        print(f"    {label:20s} {seconds:6.2f} s  {base_time / seconds:5.1f}x  {error:.1e}")
    # a thickness series (Felix users' refinement runs): 100–2000 Å in 10 Å steps, 16² pixels
    sizes = ((200, 60),) if args.quick else ((200, 60), (500, 150))
    for pool, strong in sizes:
        series = dataclasses.replace(settings, pixel_count=8, min_reflection_pool=pool, min_strong_beams=strong,
                                     initial_thickness=100.0, final_thickness=2000.0, delta_thickness=10.0)
        out = {}
        for solver in ("expm", "chebyshev"):
            def run(solver: str = solver) -> None:
                out[solver] = simulate_builtin(crystal, series, BuiltinOptions(pool_mode="shells", use_symmetry=False, complex_dtype="complex128", solver=solver), device=args.device).discs[(0, 0, 0)]
            out[f"t_{solver}"] = timed(run, device, args.repeats)
        error = float(np.abs(out["chebyshev"] - out["expm"]).max())
        speedup = out["t_expm"] / out["t_chebyshev"]
        figures[f"series_{strong}beams_speedup"] = speedup
        figures[f"series_{strong}beams_max_dI"] = error
        print(f"  thickness series ({len(series.thicknesses)} thicknesses 100–2000 Å, 16², pool {pool} / {strong}, "
              f"complex128): expm {out['t_expm']:.2f} s, chebyshev {out['t_chebyshev']:.2f} s, speed-up {speedup:.1f}x, "
              f"max |dI| {error:.1e}")


def peer_tiles(side: int, tile: int, count: int) -> np.ndarray:
    """Flat pixel indices of ``count`` tile × tile blocks of neighbouring pixels spread along the
    diagonal of a side × side disc (the blocks the Chebyshev solver works on)."""
    corners = tile * np.linspace(0, side // tile - 1, count).round().astype(int)  # on the solver's tile grid
    rows = [(r0 + i) * side + c0 + j for r0, c0 in zip(corners, corners[::-1], strict=True)
            for i in range(tile) for j in range(tile)]
    return np.asarray(rows)


def peer_comparison(figures: dict[str, object], args: argparse.Namespace) -> None:
    """Time per tilt of the propagation on one CPU thread, ours against abTEM's Bloch-wave solver,
    on the same tilts and the same structure matrices: GaAs [001], the demo geometry (500 Å),
    ≥ 100 and ≥ 200 strong beams, 48 tilts (three 4 × 4 blocks of neighbouring pixels).
    Ours, with absorption (proportional 7.8 %): the batched ``matrix_exp`` (``solver: expm``,
    the matrix exponential alone) and the Chebyshev solver (``solver: chebyshev``, the whole
    :func:`~lacbed_bridge.simulate.chebyshev.propagate_blocks` including its strong-beam choice
    and matrices), each in complex128 (the CPU default) and complex64, with the largest |ΔI| of
    the Chebyshev discs against the complex128 exponential; abTEM 1.0
    (``abtem.bloch.dynamical.calculate_dynamical_scattering``, a Hermitian ``eigh`` per tilt) on
    the elastic (Hermitian) part of the same matrices, as it has no absorption. Skipped when
    abTEM is not installed (``pip install -e '.[peers]'``)."""
    try:
        from abtem.bloch.dynamical import calculate_dynamical_scattering
    except ImportError:
        print("  abTEM not installed (pip install -e '.[peers]'): peer comparison skipped")
        return

    from lacbed_bridge.simulate.bloch import bloch_structure, pixel_beams, structure_matrix
    from lacbed_bridge.simulate.chebyshev import propagate_blocks
    from lacbed_bridge.simulate.electron import wavenumber_from_voltage
    from lacbed_bridge.crystal.orientation import direct_basis, microscope_frame
    from lacbed_bridge.simulate.geometry import pixel_wavevectors

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    base = demo_settings()
    crystal = prototype_crystal("zincblende", {"A": "Ga", "B": "As"})
    cpu = torch.device("cpu")
    try:
        for beams in (100, 200):
            settings = dataclasses.replace(base, min_reflection_pool=int(3.4 * beams), min_strong_beams=beams,
                                           absorb_flag=1, absorption_per=7.8)
            wavenumber = wavenumber_from_voltage(settings.accelerating_voltage)
            frame = microscope_frame(crystal, settings.geometry)
            structure = bloch_structure(crystal, frame, wavenumber, potential=settings.potential, beams=settings.beam_selection,
                                        pool_mode="shells", device=cpu)
            k_all = pixel_wavevectors(settings.pixel_count, settings.outer_convergence_angle, wavenumber).reshape(-1, 3)
            k_pick = k_all[peer_tiles(settings.side, 4, 3)]
            tilts = len(k_pick)
            k = torch.as_tensor(k_pick, dtype=torch.float64)
            s, strong = pixel_beams(structure, k, beams)
            n = int(strong.sum(dim=1).max())
            a, idx, _, norm = structure_matrix(structure, k, s, strong, n)
            t = settings.thicknesses[0]
            row: dict[str, float] = {}
            discs: dict[str, np.ndarray] = {}
            for label, dtype in (("complex128", torch.complex128), ("complex64", torch.complex64)):
                x = ((1j * t) * a).to(dtype)
                row[f"expm_{label}"] = timed(lambda x=x: torch.linalg.matrix_exp(x)[:, :, 0], cpu, 3) / tilts
                holder = {}

                def chebyshev(dtype: torch.dtype = dtype, holder: dict = holder) -> None:
                    holder["r"] = propagate_blocks(structure, k_pick, [t], beams, [0], cdtype=dtype)
                row[f"chebyshev_{label}"] = timed(chebyshev, cpu, 3) / tilts
                discs[label] = holder["r"].intensities[0, 0]
            # the reference: exp(iÃt) in complex128, the 000 beam after the normal correction
            zero = torch.linalg.matrix_exp((1j * t) * a)[:, 0, 0] / norm[:, 0]  # 000 is beam 0 (g·n̂ = 0)
            reference = (zero.abs() ** 2).numpy()
            hermitian = (0.5 * (a + a.mH)).numpy()
            hkl = np.asarray(structure.pool)[idx.numpy()]
            cell = direct_basis(crystal.cell)
            energy = settings.accelerating_voltage * 1e3

            def peer() -> None:
                for i in range(tilts):
                    calculate_dynamical_scattering(hermitian[i], hkl[i], cell, energy, t)
            row["abtem"] = timed(peer, cpu, 3) / tilts
            for key, value in row.items():
                figures[f"peer_{beams}beams_{key}_ms"] = 1e3 * value
            for key in row:
                if key != "abtem":
                    figures[f"peer_{beams}beams_ratio_{key}"] = row[key] / row["abtem"]
            errors = {label: float(np.abs(disc - reference).max()) for label, disc in discs.items()}
            for label, error in errors.items():
                figures[f"peer_{beams}beams_chebyshev_{label}_max_dI"] = error
            print(f"  per tilt, 1 thread, {n} beams (≥ {beams}), {tilts} tilts: abTEM eigh {1e3 * row['abtem']:.2f} ms "
                  "(no absorption); ours with absorption, time (ratio to abTEM):")
            for label in ("complex128", "complex64"):
                e, c = row[f"expm_{label}"], row[f"chebyshev_{label}"]
                print(f"    {label}: expm {1e3 * e:.2f} ms ({e / row['abtem']:.2f}), chebyshev {1e3 * c:.2f} ms "
                      f"({c / row['abtem']:.2f}, max |dI| {errors[label]:.1e} vs complex128 expm)")
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
