"""Batches of samples for the workflow: one cluster job simulates (or projects) many crystals.

A family's samples ``<family>_000000 …`` are cut into batches of ``workflow.batch_size``
(config), so 10 000 crystals with batch size 50 make 200 jobs. A batch job writes one TIFF per
sample and a batch manifest CSV (sample_id, status, path, seconds, error, bytes) — the file the workflow
passes on, instead of all-to-all lists of sample files.

Robustness: a sample that fails is recorded (status ``failed``, the error message) and leaves a
``<sample_id>.failed`` marker beside its missing image; the batch itself succeeds, and the dataset
stage reports and excludes the sample. A sample whose image already exists, made from the same CIF
bytes with the same settings, is not recomputed (``cached``), so a rerun after an interruption redoes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, SimulationError

if TYPE_CHECKING:  # the heavy modules are imported where used: `lacbed-bridge --help` stays fast
    import pandas as pd

LOG = logging.getLogger(__name__)
#: per-sample image stages: the LACBED disc, the projected density and the deformation density
STAGES = ("lacbed", "edd", "deformation")


def batch_size(config: dict[str, Any]) -> int:
    """Samples per batch job (``workflow.batch_size``)."""
    from .settings import WorkflowSettings

    return WorkflowSettings.from_config(config).batch_size


def n_batches(config: dict[str, Any], family: str) -> int:
    """Number of batches of a family."""
    from ..crystal.variants import find_family

    n = int(find_family(config, family)["n_variants"])
    return math.ceil(n / batch_size(config))


def batch_sample_ids(config: dict[str, Any], family: str, batch: int) -> list[str]:
    """Sample ids of batch ``batch`` (0-based) of ``family``."""
    from ..crystal.variants import find_family, sample_ids

    ids = sample_ids(find_family(config, family))
    size = batch_size(config)
    if not 0 <= batch < n_batches(config, family):
        raise ConfigError(f"batch {batch} outside 0..{n_batches(config, family) - 1}", field=f"families[{family}]")
    return ids[batch * size : (batch + 1) * size]


def stage_settings(config: dict[str, Any], stage: str, family: str | None = None) -> Any:
    """The settings object that determines a stage's images: the simulation settings (``lacbed``)
    or the EDD settings (``edd``, ``deformation``), with the family's own geometry when given."""
    if stage == "lacbed":
        from ..simulate.run import simulation_settings

        return simulation_settings(config, family=family)
    from ..edd.settings import edd_settings

    return edd_settings(config, family=family)


def stage_hash(config: dict[str, Any], stage: str, family: str | None = None) -> str:
    """Hash of the settings object that determines a stage's images (:func:`stage_settings`)."""
    return stage_settings(config, stage, family).reuse_hash()


#: Columns of a batch manifest; ``bytes`` is the image's size when the batch was made, so that a
#: later run can tell a truncated or deleted image from a good one (:func:`manifest_problems`).
MANIFEST_COLUMNS = ("sample_id", "status", "path", "seconds", "error", "bytes")


def manifest_problems(manifest: str | os.PathLike[str]) -> list[str]:
    """The images a batch manifest lists as made (status ok or cached) that are now missing, have
    another size than when the batch wrote them (truncated, overwritten), or — for an image changed
    after the manifest was written — pixels that no longer match the checksum in their metadata
    (an overwrite to the same size), one line each.

    An image is looked for beside the manifest (where the batch writes it), else at its recorded
    path (relative to the workflow's folder, the current directory of a Snakemake run). Images the
    batch left alone since are only stat'ed (no reading), so the check is cheap enough to run before
    every workflow run. An unreadable manifest is one problem.
    """
    import csv

    from ..errors import InputError
    from ..io import read_tiff

    try:
        with open(manifest, newline="") as handle:
            rows = list(csv.DictReader(handle))
        written = os.stat(manifest).st_mtime
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        return [f"{manifest}: unreadable ({exc})"]
    problems = []
    for row in rows:
        if row.get("status") not in ("ok", "cached"):
            continue
        path = row.get("path") or ""
        # the batch writes its images beside its manifest: look there first, so that a results
        # folder moved (or a run from another directory) is not taken for missing images
        beside = Path(manifest).parent / Path(path).name
        image = beside if path and beside.is_file() else Path(path)
        try:
            stat = os.stat(image)
        except OSError:
            problems.append(f"{path or row.get('sample_id')}: missing")
            continue
        recorded = row.get("bytes")
        made = int(float(recorded)) if recorded not in (None, "") else None
        if made is not None and made != stat.st_size:
            problems.append(f"{path}: {stat.st_size} bytes, {made} when made")
        elif stat.st_mtime > written:  # changed after its batch finished: are the pixels still its own?
            try:
                read_tiff(image)
            except InputError as exc:
                problems.append(f"{path}: {exc.message}")
    return problems


def _current_metadata(path: Path, settings_hash: str, cif_sha256: str) -> dict[str, Any] | None:
    """The metadata of an image that can be reused (made from the same CIF bytes with the same
    settings, pixels intact); None when it must be computed."""
    from ..io import read_tiff

    if not path.is_file():
        return None
    try:
        _, meta = read_tiff(path)
    except Exception:  # noqa: BLE001 - an unreadable file is simply recomputed
        return None
    return meta if meta.get("settings_hash") == settings_hash and meta.get("cif_sha256") == cif_sha256 else None


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def run_batch(
    config: dict[str, Any],
    family: str,
    batch: int,
    *,
    stage: str,
    cif_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    compute: Callable[[Path, Path], None] | None = None,
) -> pd.DataFrame:
    """Compute one batch of ``stage`` (``lacbed`` or ``edd``) and write its manifest.

    ``compute(cif_path, out_path)`` makes one image (default: the stage's package function). The
    settings hash is added to each image's metadata so later runs can reuse it.
    """
    import pandas as pd

    from ..io import read_tiff, write_text_atomic, write_tiff

    if stage not in STAGES:
        raise ConfigError(f"expected one of {list(STAGES)}, got {stage!r}", field="stage")
    settings = stage_settings(config, stage, family)  # the family's own beam, x and normal directions
    settings_hash = settings.reuse_hash()
    if compute is None:
        compute = _default_compute(settings, stage)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    made: dict[str, dict[str, Any]] = {}  # the metadata of every image made or reused
    for sid in batch_sample_ids(config, family, batch):
        cif = Path(cif_dir) / f"{sid}.cif"
        out = out_dir / f"{sid}.tif"
        marker = out_dir / f"{sid}.failed"
        cif_sha256 = _sha256(cif)
        cached = _current_metadata(out, settings_hash, cif_sha256)
        if cached is not None:
            made[sid] = cached
            rows.append({"sample_id": sid, "status": "cached", "path": str(out), "seconds": 0.0, "error": "",
                         "bytes": out.stat().st_size})
            continue
        try:
            compute(cif, out)
            image, meta = read_tiff(out)
            meta["settings_hash"] = settings_hash
            meta["cif_sha256"] = cif_sha256
            write_tiff(out, image, meta)
            made[sid] = meta
            if marker.exists():
                marker.unlink()
            rows.append({"sample_id": sid, "status": "ok", "path": str(out), "seconds": float(meta.get("seconds", 0.0)), "error": "",
                         "bytes": out.stat().st_size})
        except Exception as exc:  # noqa: BLE001 - one failed sample must not stop the batch
            message = f"{type(exc).__name__}: {exc}"
            LOG.error("%s: %s failed: %s", sid, stage, message)
            LOG.debug("%s", traceback.format_exc())
            if out.exists():
                out.unlink()
            write_text_atomic(marker, json.dumps({"sample_id": sid, "stage": stage, "error": message}) + "\n")
            rows.append({"sample_id": sid, "status": "failed", "path": "", "seconds": 0.0, "error": message, "bytes": 0})
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    write_text_atomic(manifest, frame.to_csv(index=False))
    n_failed = int((frame["status"] == "failed").sum())
    LOG.info("%s batch %d of %s: %d samples, %d failed", stage, batch, family, len(frame), n_failed)
    if stage == "lacbed":
        unconverged = [sid for sid, meta in made.items() if meta.get("info_converged") is False]
        if unconverged:
            worst = max(float(made[sid].get("info_convergence_rms", float("nan"))) for sid in unconverged)
            from ..dataset.builder import convergence_line

            line = convergence_line(len(unconverged), len(made), worst, made[unconverged[0]].get("info_convergence_target"))
            LOG.warning("%s batch %d of %s: %s", stage, batch, family, line)
            from .settings import WorkflowSettings

            if WorkflowSettings.from_config(config).require_converged:
                raise SimulationError(f"{family} batch {batch}: {line}; workflow.require_converged is true "
                                      f"({', '.join(unconverged[:5])}{' …' if len(unconverged) > 5 else ''})")
    return frame


def _default_compute(settings: Any, stage: str) -> Callable[[Path, Path], None]:
    if stage == "lacbed":
        from ..simulate.run import run_simulation

        return lambda cif, out: run_simulation(cif, settings, out) and None
    from ..edd.images import write_edd

    return lambda cif, out: write_edd(cif, settings, out, kind=stage) and None


def register(subparsers: Any) -> None:
    """Add ``lacbed-bridge batch`` (used by the workflow's simulate and edd rules)."""
    p = subparsers.add_parser(
        "batch",
        help="simulate LACBED discs or project EDD images for one batch of a family (workflow job)",
    )
    p.add_argument("stage", choices=list(STAGES),
                   help="lacbed = simulate with the configured backend; edd = projected density; "
                   "deformation = projected deformation density ρ − ρ_IAM")
    p.add_argument("--config", required=True, help="config YAML")
    p.add_argument("--family", required=True, help="family name")
    p.add_argument("--batch", type=int, required=True, help="batch index (0-based)")
    p.add_argument("--cif-dir", required=True, help="folder of the family's CIFs")
    p.add_argument("--out-dir", required=True, help="folder for <sample_id>.tif")
    p.add_argument("--manifest", required=True, help="batch manifest CSV to write")
    p.set_defaults(func=_run_cli)


def _run_cli(args: Any) -> int:
    from ..config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = load_config(args.config)
    frame = run_batch(
        config, args.family, args.batch, stage=args.stage, cif_dir=args.cif_dir, out_dir=args.out_dir, manifest=args.manifest
    )
    print(f"{args.stage} {args.family} batch {args.batch}: " + ", ".join(f"{k} {v}" for k, v in frame["status"].value_counts().items()))
    return 0
