"""Benchmark: the builtin Bloch-wave simulator, time per pattern, against Felix and abTEM.

1. ``reference``: the four Felix reference cases (tests/data/felix_reference). Our builtin
   simulator's time per pattern in this process, and Felix against our drop-in
   (``simulate --felix-dir``): with a Felix binary (``--felix`` or ``$FELIX_EXECUTABLE``) both
   are timed live, whole process, one thread each, alternating, on the same run folder, and their
   (000) discs compared; without one the times recorded by such a run
   (tests/data/felix_reference/timings.json, ``--record`` writes it) are printed with their date
   and machine. Ratio = drop-in / Felix.
2. ``grid``: GaAs [-110] (the 930 Å case) with ≥ 50 and ≥ 150 strong beams (pools of 200 and 600),
   time per pixel on a 32² grid (the 128² pattern of the paper scales with the pixel count): the
   same live or recorded Felix comparison. No time is ever estimated.
3. ``symmetry``: the symmetry speed-up: the demo geometry (config.yaml, 32², 500 Å) with a pool of
   complete shells, rocksalt MgO [001] (4mm) and GaAs [001] (2mm), with and without
   ``use_symmetry`` (identical discs, ratio of times).
4. ``solvers``: the matrix exponential and the Chebyshev series on the demo's disc, complex128
   and complex64, time and max |ΔI| against the exponential in complex128 (:func:`solver_speedup`).
5. ``crossover``: where the eigendecomposition overtakes the Chebyshev series for a thickness
   series on a CPU (whole runs, one thread; what ``solver: auto`` follows).
6. ``peer``: time per tilt on one thread against abTEM's Bloch-wave solver on the same tilts and
   structure matrices, both our solvers (when ``abtem`` is installed, the ``peers`` extra;
   :func:`peer_comparison`).

``--quick`` (≤ 60 s on 2 cores without Felix) times our in-process runs of the 64² cases on a 32²
grid, scaling the time by the pixel count (said so in the output), and Felix once per case.
``--sections reference`` runs only part 1 (the workflow's ``benchmark_simulator`` rule).
Prints the figures; the LAST line is one JSON object (``--json-out`` writes it too).
Usage: python benchmarks/simulator.py [--quick] [--device cpu|cuda] [--repeats N] [--felix PATH]
       [--record] [--sections reference,grid,symmetry,solvers,crossover,peer] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from lacbed_bridge import __version__
from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.io import write_text_atomic
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions
from lacbed_bridge.simulate.felix.inp import parse_felix_inp

from felix_timing import alternate, felix_executable, machine, record, recorded  # benchmarks/felix_timing.py

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "felix_reference"
CASES = ["GaAs_m110_930A_64px_noabs", "GaAs_m110_930A_64px_propabs", "GaAs_m110_930A_64px", "GaAs_m110_3t_128px"]
SECTIONS = ("reference", "grid", "symmetry", "solvers", "crossover", "peer")
#: the 128² pattern of part 2: (strong beams, pool), timed on a 32² grid
GRID = ((50, 200), (150, 600))


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
    parser.add_argument("--felix", help="the Felix binary (default: $FELIX_EXECUTABLE); times Felix live")
    parser.add_argument("--record", action="store_true", help="write the live Felix times to tests/data/felix_reference/timings.json")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated parts to run, of {','.join(SECTIONS)}")
    parser.add_argument("--json-out", type=Path, help="also write the JSON object here")
    args = parser.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; expected some of {list(SECTIONS)}")
    felix = felix_executable(args.felix)
    if args.record and felix is None:
        parser.error("--record needs a Felix binary (--felix or $FELIX_EXECUTABLE)")
    device = torch.device(args.device)
    figures: dict[str, object] = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or platform.machine(),
        "device_type": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "version": __version__,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
    }
    try:
        figures["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pass
    print(f"builtin simulator on {figures['device']} ({device.type}, {figures['threads']} threads)")
    live: dict[str, dict] = {}
    if "reference" in sections:
        reference_cases(figures, args, felix, live)
    if "grid" in sections:
        grid_per_pixel(figures, args, felix, live)
    if args.record:
        print(f"  recorded: {record(live, felix, args.repeats)}")
    if "symmetry" in sections:
        symmetry_speedup(figures, args)
    if "solvers" in sections:
        solver_speedup(figures, args)
    if "crossover" in sections:
        solver_crossover(figures, args)
    if "peer" in sections:
        peer_comparison(figures, args)
    text = json.dumps(figures)
    if args.json_out:
        write_text_atomic(args.json_out, text + "\n")
    print(text)


def felix_times(felix: Path | None, key: str, case: Path, repeats: int, live: dict[str, dict],
                pixel_count: int | None = None, **changes) -> tuple[dict | None, str]:
    """Felix against the drop-in for one case: live when a binary is given (kept in ``live`` under
    ``key`` for --record), else the recorded row; and the label saying which (None: neither)."""
    if felix is not None:
        row = alternate(felix, case, repeats, pixel_count, **changes)
        live[key] = row
        return row, f"live, {machine()}"
    saved = recorded()
    row = saved.get("cases", {}).get(key)
    if row is None:
        return None, "not measured (no Felix binary, nothing recorded)"
    return row, f"recorded {saved['recorded']}, {saved['machine']}"


def reference_cases(figures: dict[str, object], args: argparse.Namespace, felix: Path | None, live: dict[str, dict]) -> None:
    """Part 1: our in-process time per pattern on each reference case, and Felix against the drop-in."""
    crystal = read_cif(REFERENCE / CASES[0] / "felix.cif")
    warm = dataclasses.replace(parse_felix_inp(REFERENCE / CASES[0] / "felix.inp"), pixel_count=4)  # torch kernels, caches
    simulate_builtin(crystal, warm, BuiltinOptions.as_felix(), device=args.device)
    ratios = []
    for name in CASES:
        case = REFERENCE / name
        if not case.is_dir():
            raise SystemExit(f"reference case missing: {case}")
        settings = parse_felix_inp(case / "felix.inp")
        scale = 1.0
        if args.quick and settings.pixel_count > 16:
            scale = (settings.pixel_count / 16) ** 2
            settings = dataclasses.replace(settings, pixel_count=16)
        seconds = timed(lambda: simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device=args.device), torch.device(args.device),
                        args.repeats) * scale
        figures[f"{name}_builtin_s"] = seconds
        note = " (scaled from 32²)" if scale != 1.0 else ""
        if scale != 1.0:
            figures[f"{name}_builtin_scaled_from"] = 32
        line = f"  {name:28s} builtin in-process {seconds:7.2f} s{note}"
        row, source = felix_times(felix, name, case, args.repeats, live)
        if row is not None:
            figures[f"{name}_felix_s"] = row["felix_s"]
            figures[f"{name}_dropin_s"] = row["dropin_s"]
            figures[f"{name}_ratio"] = row["ratio"]
            figures[f"{name}_felix_source"] = source
            ratios.append(row["ratio"])
            line += (f" | whole process, 1 thread: Felix {row['felix_s']:6.1f} s, drop-in {row['dropin_s']:6.1f} s, "
                     f"ratio {row['ratio']:.2f}, max |dI| {row['max_dI']:.1e} ({source})")
        else:
            line += f" | Felix {source}"
        print(line)
    if ratios:
        figures["max_ratio_reference_cases"] = max(ratios)


def grid_per_pixel(figures: dict[str, object], args: argparse.Namespace, felix: Path | None, live: dict[str, dict]) -> None:
    """Part 2: the 930 Å GaAs case with ≥ 50 and ≥ 150 strong beams, per pixel on a 32² grid."""
    case = REFERENCE / CASES[2]
    crystal = read_cif(case / "felix.cif")
    base = parse_felix_inp(case / "felix.inp")
    for beams, pool in GRID:
        settings = dataclasses.replace(base, pixel_count=16, min_strong_beams=beams, min_reflection_pool=pool)
        holder = {}

        def run() -> None:
            holder["r"] = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device=args.device)

        seconds = timed(run, torch.device(args.device), args.repeats)
        info = holder["r"].info
        key = f"grid32_{beams}beams"
        figures[f"{key}_builtin_ms_per_pixel"] = 1e3 * seconds / settings.side**2
        figures[f"{key}_mean_beams"] = info["beams_mean"]
        line = (f"  32² grid, ≥{beams} beams (pool {pool}, mean {info['beams_mean']:.1f}): builtin in-process "
                f"{1e3 * seconds / settings.side ** 2:.2f} ms/px")
        row, source = felix_times(felix, key, case, args.repeats, live, pixel_count=16, min_strong_beams=beams,
                                  min_reflection_pool=pool)
        if row is not None:
            for k in ("felix_ms_per_pixel", "dropin_ms_per_pixel", "ratio"):
                figures[f"{key}_{k}"] = row[k]
            figures[f"{key}_felix_source"] = source
            line += (f" | whole process: Felix {row['felix_ms_per_pixel']:.1f} ms/px, drop-in {row['dropin_ms_per_pixel']:.1f} ms/px, "
                     f"ratio {row['ratio']:.2f} ({source}); a 128² pattern: Felix ≈ {row['felix_ms_per_pixel'] * 16.384:.0f} s")
        else:
            line += f" | Felix {source}"
        print(line)


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


#: (first, last, step) [Å] of the crossover's series: one thickness to a long, deep series
CROSSOVER_SERIES = ((500, 500, 10), (100, 570, 10), (100, 1050, 10), (100, 2000, 10), (1000, 1100, 1), (100, 5000, 10))


def solver_crossover(figures: dict[str, object], args: argparse.Namespace) -> None:
    """Eigen / Chebyshev time of whole ``simulate_builtin`` runs (GaAs [001], the demo geometry on
    8² px, proportional absorption, complete shells, one thread, best of 2 alternating) for
    thickness series from one thickness to 100–5000 Å, at ≈ 100 and 200 strong beams."""
    crystal = prototype_crystal("zincblende", {"A": "Ga", "B": "As"})
    base = demo_settings()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for strong, pool in ((100, 340), (200, 680)):
            for first, last, step in CROSSOVER_SERIES:
                s = dataclasses.replace(base, pixel_count=4, min_reflection_pool=pool, min_strong_beams=strong, absorb_flag=1,
                                        initial_thickness=float(first), final_thickness=float(last), delta_thickness=float(step))
                times: dict[str, list[float]] = {"chebyshev": [], "eigen": []}
                for _ in range(2):
                    for solver in times:
                        start = time.perf_counter()
                        simulate_builtin(crystal, s, BuiltinOptions(pool_mode="shells", use_symmetry=False, solver=solver), device=args.device)
                        times[solver].append(time.perf_counter() - start)
                cheb, eig = min(times["chebyshev"]), min(times["eigen"])
                key = f"crossover_{strong}beams_{first}_{last}_{step}"
                figures[f"{key}_eigen_over_chebyshev"] = eig / cheb
                print(f"  {strong} strong beams, {first}–{last} Å in {step} Å ({len(s.thicknesses)} thicknesses): Chebyshev "
                      f"{1e3 * cheb / s.side ** 2:.2f} ms/px, eigen {1e3 * eig / s.side ** 2:.2f} ms/px, eigen/Chebyshev {eig / cheb:.2f}")
    finally:
        torch.set_num_threads(threads)


def peer_tiles(side: int, tile: int, count: int) -> np.ndarray:
    """Flat pixel indices of ``count`` tile × tile blocks of neighbouring pixels spread along the
    diagonal of a side × side disc (the blocks the Chebyshev solver works on)."""
    corners = tile * np.linspace(0, side // tile - 1, count).round().astype(int)  # on the solver's tile grid
    rows = [(r0 + i) * side + c0 + j for r0, c0 in zip(corners, corners[::-1], strict=True)
            for i in range(tile) for j in range(tile)]
    return np.asarray(rows)


def peer_comparison(figures: dict[str, object], args: argparse.Namespace) -> None:
    """Time per tilt of the propagation on one CPU thread (torch's and numpy's BLAS alike), ours
    against abTEM's Bloch-wave solver, on the same tilts and the same structure matrices: GaAs [001], the demo geometry (500 Å),
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
    try:  # abTEM runs numpy's BLAS: one thread too (threadpoolctl comes with abTEM's dependencies)
        from threadpoolctl import threadpool_limits

        blas = threadpool_limits(limits=1)
    except ImportError:
        blas = None
        print("  note: threadpoolctl missing, numpy's BLAS threads are not limited: set OPENBLAS_NUM_THREADS=1")
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
            peer_series(figures, beams, structure, k_pick, a, norm, hermitian, hkl, cell, energy, calculate_dynamical_scattering)
    finally:
        torch.set_num_threads(threads)
        if blas is not None:
            blas.restore_original_limits()


#: the thickness series of the peer comparison [Å]: Felix users' refinement range, 191 thicknesses
PEER_SERIES = tuple(float(t) for t in np.arange(100.0, 2000.0 + 5.0, 10.0))


def peer_series(figures: dict[str, object], beams: int, structure, k_pick: np.ndarray, a: torch.Tensor, norm: torch.Tensor,
                hermitian: np.ndarray, hkl: np.ndarray, cell: np.ndarray, energy: float, abtem_solver) -> None:
    """A thickness series (:data:`PEER_SERIES`) per tilt on one thread, on the same tilts and
    matrices as the single thickness: our Chebyshev series (the whole ``propagate_blocks``, the
    (000) beam) and our general eigendecomposition (``eigen_waves``, one per tilt for every
    thickness), both with absorption, against abTEM's ``eigh`` of the elastic part (every
    thickness from one decomposition); the (000) intensities of both of ours against the exact
    exponential at every thickness."""
    from lacbed_bridge.simulate.bloch import eigen_waves
    from lacbed_bridge.simulate.chebyshev import propagate_blocks

    cpu = torch.device("cpu")
    tilts = len(k_pick)
    holder: dict[str, np.ndarray] = {}

    def chebyshev() -> None:
        holder["chebyshev"] = propagate_blocks(structure, k_pick, PEER_SERIES, beams, [0], cdtype=torch.complex128).intensities[0]

    def eigen() -> None:
        waves = eigen_waves(a, PEER_SERIES)  # (T, P, n)
        holder["eigen"] = ((waves[:, :, 0] / norm[None, :, 0]).abs() ** 2).numpy()

    def peer() -> None:
        for i in range(tilts):
            abtem_solver(hermitian[i], hkl[i], cell, energy, np.asarray(PEER_SERIES))

    row = {"chebyshev": timed(chebyshev, cpu, 3) / tilts, "eigen": timed(eigen, cpu, 3) / tilts, "abtem": timed(peer, cpu, 3) / tilts}
    exact = np.stack([((torch.linalg.matrix_exp((1j * t) * a)[:, 0, 0] / norm[:, 0]).abs() ** 2).numpy() for t in PEER_SERIES])
    errors = {name: float(np.abs(holder[name] - exact).max()) for name in ("chebyshev", "eigen")}
    for key, value in row.items():
        figures[f"peer_series_{beams}beams_{key}_ms"] = 1e3 * value
    for name in ("chebyshev", "eigen"):
        figures[f"peer_series_{beams}beams_ratio_{name}"] = row[name] / row["abtem"]
        figures[f"peer_series_{beams}beams_{name}_max_dI"] = errors[name]
    print(f"    thickness series {PEER_SERIES[0]:.0f}–{PEER_SERIES[-1]:.0f} Å ({len(PEER_SERIES)} thicknesses), per tilt: "
          f"abTEM eigh {1e3 * row['abtem']:.2f} ms; ours complex128 with absorption: chebyshev {1e3 * row['chebyshev']:.2f} ms "
          f"({row['chebyshev'] / row['abtem']:.2f}, max |dI| {errors['chebyshev']:.1e} vs the exponential), eigen "
          f"{1e3 * row['eigen']:.2f} ms ({row['eigen'] / row['abtem']:.2f}, max |dI| {errors['eigen']:.1e})")


if __name__ == "__main__":
    main()
