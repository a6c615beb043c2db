"""``lacbed-bridge simulate``: one CIF with a config, or Felix's own run folder (drop-in mode)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate the LACBED (000) disc of a CIF, or run in a Felix folder (--felix-dir)",
        description=(
            "Simulate the (000) LACBED disc. Either CIF --config CONFIG --out FILE.tif, or the drop-in "
            "mode for Felix users: --felix-dir DIR reads felix.inp, felix.cif and felix.hkl from DIR and "
            "writes Felix's output folders (<formula>_Sim_<tttt>A_<2N>x<2N>/<formula>_+h+k+l.bin, raw "
            "float64) plus our TIFF of the (000) disc."
        ),
    )
    p.add_argument("cif", nargs="?", help="crystal CIF (not with --felix-dir)")
    p.add_argument("--config", help="config YAML (settings from its 'simulation' section)")
    p.add_argument("--family", help="use this config family's geometry (families[].geometry: beam, x, normal)")
    p.add_argument("--out", help="output TIFF (with --felix-dir and the builtin backend the default is DIR/<formula>_+0+0+0.tif)")
    p.add_argument("--felix-dir", help="a Felix run folder holding felix.inp, felix.cif, felix.hkl")
    p.add_argument("--backend", choices=["builtin", "felix"], help="override the config's backend (default builtin with --felix-dir)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device of the builtin backend")
    p.add_argument(
        "--constants",
        choices=["codata", "felix"],
        help="physical constants of the builtin backend (default: felix with --felix-dir, to reproduce "
        "Felix's numbers including its speed-of-light typo; codata otherwise)",
    )
    p.add_argument(
        "--pool",
        choices=["felix", "shells"],
        help="reflection pool of the builtin backend with --felix-dir (default felix: Felix's own pool, to reproduce "
        "Felix; shells: complete shells of equal |g|, a disc with the crystal's symmetry)",
    )
    felix = p.add_argument_group(
        "Felix run (backend felix)",
        "override simulation.felix of --config (with --felix-dir, --config supplies only that section; "
        "the physics comes from felix.inp)",
    )
    felix.add_argument("--felix-command", help="command line that starts Felix, e.g. 'mpirun -n 4 felix'")
    felix.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-time limit per attempt (the process group is killed)")
    felix.add_argument("--retries", type=int, metavar="N", help="extra attempts after a timeout or a kill by a signal")
    felix.add_argument("--threads", type=int, metavar="N",
                       help="BLAS/OpenMP threads per MPI rank (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS; default 1)")
    p.set_defaults(func=_run)


def felix_overrides(args: argparse.Namespace, section: dict | None) -> dict:
    """``simulation.felix`` with the command-line Felix options laid over it (checked by the runner)."""
    out = dict(section or {})
    if args.felix_command is not None:
        if not args.felix_command.strip():
            raise InputError("expected a command line such as 'felix' or 'mpirun -n 4 felix'", field="--felix-command")
        out["command"] = args.felix_command
    if args.timeout is not None:
        if not args.timeout > 0:
            raise InputError(f"expected a positive number of seconds, got {args.timeout}", field="--timeout")
        out["timeout_s"] = args.timeout
    if args.retries is not None:
        if args.retries < 0:
            raise InputError(f"expected an integer ≥ 0, got {args.retries}", field="--retries")
        out["retries"] = args.retries
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"expected a number of threads ≥ 1, got {args.threads}", field="--threads")
        out["env"] = {**(out.get("env") or {}), "OPENBLAS_NUM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)}
    return out


def _felix_options_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) is not None for name in ("felix_command", "timeout", "retries", "threads"))


def _run(args: argparse.Namespace) -> int:
    if args.felix_dir:
        if args.cif or args.family:
            raise InputError("give either a CIF with --config, or --felix-dir, not both", field="--felix-dir")
        return _run_felix_dir(args)
    if not args.cif or not args.config or not args.out:
        raise InputError("expected CIF --config CONFIG --out FILE.tif (or --felix-dir DIR)", field="simulate")
    from ..config import load_config
    from .run import run_simulation, simulation_settings

    config = load_config(args.config)
    if _felix_options_given(args):
        if (args.backend or config["simulation"]["backend"]) != "felix":
            raise InputError("--felix-command, --timeout, --retries and --threads are for the felix backend", field="--backend")
        config = {**config, "simulation": {**config["simulation"],
                                           "felix": felix_overrides(args, config["simulation"].get("felix"))}}
    if args.constants not in (None, "codata"):
        raise InputError("--constants felix is only for the --felix-dir drop-in mode", field="--constants")
    if args.pool is not None:
        raise InputError("--pool is for the --felix-dir drop-in mode; with a config set simulation.pool", field="--pool")
    settings = simulation_settings(config, family=args.family, path=args.config)
    out = run_simulation(args.cif, settings, args.out, backend=args.backend, device=args.device)
    print(out)
    return 0


def _run_felix_dir(args: argparse.Namespace) -> int:
    from .output import write_felix_layout, write_lacbed_tiff

    run_dir = Path(args.felix_dir)
    if not run_dir.is_dir():
        raise InputError("not a folder", path=run_dir, field="--felix-dir")
    if args.backend != "felix" and (_felix_options_given(args) or args.config):
        raise InputError("--config, --felix-command, --timeout, --retries and --threads with --felix-dir are for "
                         "--backend felix (the builtin drop-in takes its settings from felix.inp)", field="--backend")
    if args.backend == "felix":
        from .felix.backend import run_felix_dir

        section = None
        if args.config:
            from ..config import load_config

            section = load_config(args.config)["simulation"].get("felix")
        result = run_felix_dir(run_dir, felix_overrides(args, section))
        formula = str(result.info.get("felix_formula", "felix"))
    else:
        from ..crystal.cif import read_cif
        from .bloch import simulate_builtin
        from .felix.backend import check_felix_settings, formula_from_felix_cif
        from .felix.files import felix_formula
        from .felix.inp import parse_felix_inp, read_felix_hkl
        from .settings import BuiltinOptions

        for name in ("felix.inp", "felix.cif", "felix.hkl"):
            if not (run_dir / name).is_file():
                raise InputError(f"missing {name} (the drop-in mode reads felix.inp, felix.cif and felix.hkl)", path=run_dir / name)
        settings = check_felix_settings(parse_felix_inp(run_dir / "felix.inp"), path=run_dir / "felix.inp")
        hkl = read_felix_hkl(run_dir / "felix.hkl") or [(0, 0, 0)]
        if (0, 0, 0) not in hkl:
            hkl = [(0, 0, 0), *hkl]
        crystal = read_cif(run_dir / "felix.cif")
        formula = felix_formula(formula_from_felix_cif(run_dir / "felix.cif"))
        options = BuiltinOptions.as_felix(constants=args.constants or "felix", pool_mode=args.pool or "felix")
        result = simulate_builtin(crystal, settings, options, hkl=tuple(hkl), device=args.device, progress=_progress())
        write_felix_layout(run_dir, result, formula)
        if result.info.get("missing_hkl"):
            print(f"note: not in the reflection pool, not written: {result.info['missing_hkl']}", file=sys.stderr)
    if args.backend == "felix" and not args.out:
        # leave exactly what Felix run by hand leaves (plus its felix.log); our TIFF only on request
        print(run_dir)
        return 0
    out = Path(args.out) if args.out else run_dir / f"{formula}_+0+0+0.tif"
    write_lacbed_tiff(out, result, sample_id=formula, thickness_index=None if len(result.thicknesses) > 1 else 0)
    print(out)
    return 0


def _progress():
    """A rich progress bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress

    progress = Progress(transient=True)
    task = progress.add_task("Bloch waves", total=None)
    progress.start()

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)
        if done >= total:
            progress.stop()

    return update
