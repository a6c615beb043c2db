"""Build the training dataset from per-sample EDD and LACBED images (docs/architecture.md §5–§6).

Input (written by the earlier stages): per sample ``<edd_root>/<family>/<sample_id>.tif`` and
``<lacbed_root>/<family>/<sample_id>.tif`` (float32 side × side, JSON metadata, see
:func:`lacbed_bridge.io.write_tiff`) and the family's ``variants.csv`` (one row per sample).

Output folder::

    edd.tif, lacbed.tif   N × side × side float32 stacks of the RAW images (e/Å² and intensity per
                          unit incident beam), uncompressed and contiguous: ``tifffile.memmap``
    manifest.csv          one row per sample: index (the stack row), sample_id, the variant's columns
                          (variant_index = its number within the family, family,
                          spacegroup, formula, a, delta, kappa, u_iso, ...), backend, sim_seconds,
                          thickness, voltage_kv, edd/lacbed sha256 of the float32 pixel bytes
    dataset.json          normalisation (ONE constant pair per image kind), counts, excluded
                          samples, splits, config hash, dataset hash (sha256 of manifest.csv without its wall-time columns)
    excluded.csv          the samples left out and why (also logged as warnings)
    splits/<name>.csv     random_<i> and loso_<group> (see :mod:`.splits`)

Normalisation (docs/architecture.md §5): ``x_norm = (x − offset) / scale`` with, per image kind, ``offset =
min(0, global minimum)`` and ``scale = global maximum − offset`` over all included samples. For
non-negative data (the usual case) this is division by the dataset-wide maximum, so relative
differences between samples — the charge-transfer signal, |F200| changes of a few per cent — are
kept exactly; a per-image min–max scaling would erase them. The constants are taken over the whole
dataset rather than a training split because several splits share one dataset; they are one
number each and are recorded in ``dataset.json``.

A sample is excluded (listed in ``dataset.json``/``excluded.csv`` and logged, never silently) when
an image is missing or unreadable, not 2-D square, of another side than the dataset's, holds a
non-finite value, carries a failed-simulation marker (metadata ``"failed": true`` or ``"status"``
other than ``"ok"``, or a sidecar ``<sample_id>.failed`` file beside the expected image), names
another sample id in its metadata, or repeats an id already seen.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from ..version import __version__
from ..errors import InputError
from ..io import atomic_write, pixel_sha256, read_json, read_tiff, write_text_atomic
from .splits import canonical_group, loso_split, loso_split_name, random_split, random_split_name, write_split

LOG = logging.getLogger(__name__)

KINDS = ("edd", "lacbed")
#: an optional third image kind: the deformation density ρ − ρ_IAM (signed, e/Å²)
OPTIONAL_KINDS = ("deformation",)  # only when a deformation root is given (SampleRef.deformation_path)
#: Dataset file format version (bump when the layout changes).
FORMAT_VERSION = 1
#: Columns placed first in manifest.csv when the variants table has them.
LEADING_COLUMNS = ("family", "prototype", "spacegroup", "formula", "a", "delta", "kappa", "u_iso")


@dataclass(frozen=True)
class SampleRef:
    """Where one sample's images are, and its row of ``variants.csv``.

    Attributes
    ----------
    sample_id: stable id (``<family>_<6-digit index>``).
    edd_path: the EDD image (projected density [e/Å²]).
    lacbed_path: the LACBED (000) disc image (intensity per unit incident beam).
    metadata: the variant's row (family, spacegroup, formula, a [Å], delta [e], ...).
    """

    sample_id: str
    edd_path: Path
    lacbed_path: Path
    metadata: Mapping[str, Any] = field(default_factory=dict)
    deformation_path: Path | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The image kinds of this sample (``edd``, ``lacbed`` and, when given, ``deformation``)."""
        return KINDS + (OPTIONAL_KINDS if self.deformation_path is not None else ())

    def path(self, kind: str) -> Path:
        """The image path of ``kind`` (``edd``, ``lacbed`` or ``deformation``)."""
        paths = {"edd": self.edd_path, "lacbed": self.lacbed_path, "deformation": self.deformation_path}
        if paths.get(kind) is None:
            raise InputError(f"sample {self.sample_id} has no {kind} image", field=kind)
        return Path(paths[kind])  # type: ignore[arg-type]


@dataclass(frozen=True)
class DatasetInfo:
    """Summary of a built dataset (the content of ``dataset.json``, plus its folder)."""

    out_dir: Path
    n: int
    side: int
    normalisation: dict[str, dict[str, float]]
    splits: dict[str, dict[str, Any]]
    excluded: list[dict[str, str]]
    dataset_hash: str


def sample_refs_from_variants(
    variants_csvs: Sequence[str | os.PathLike[str]],
    *,
    edd_root: str | os.PathLike[str],
    lacbed_root: str | os.PathLike[str],
    deformation_root: str | os.PathLike[str] | None = None,
) -> list[SampleRef]:
    """The sample list of the given ``variants.csv`` files.

    Each row gives ``sample_id`` (required) and ``family`` (default: the CSV's folder name); the
    images are expected at ``<edd_root>/<family>/<sample_id>.tif`` and
    ``<lacbed_root>/<family>/<sample_id>.tif`` (they need not exist: missing ones are reported by
    :func:`build_dataset`); with ``deformation_root`` the deformation images at
    ``<deformation_root>/<family>/<sample_id>.tif`` join as a third kind. Duplicate sample ids across
    files are an error.
    """
    refs: list[SampleRef] = []
    seen: dict[str, Path] = {}
    for csv_path in variants_csvs:
        p = Path(csv_path)
        if not p.is_file():
            raise InputError("variants table not found", path=p)
        try:
            frame = pd.read_csv(p, dtype={"sample_id": str, "family": str})
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            raise InputError(f"not a readable variants table ({exc})", path=p) from None
        if "sample_id" not in frame.columns:
            raise InputError(f"no 'sample_id' column (columns: {list(frame.columns)})", path=p, field="sample_id")
        for row in frame.to_dict(orient="records"):
            sid = str(row["sample_id"])
            if sid in seen:
                raise InputError(f"sample id {sid!r} also listed in {seen[sid]}", path=p, field="sample_id")
            seen[sid] = p
            family = str(row.get("family") or p.parent.name)
            row = {k: _plain(v) for k, v in row.items()}
            row["family"] = family
            refs.append(
                SampleRef(
                    sample_id=sid,
                    edd_path=Path(edd_root) / family / f"{sid}.tif",
                    lacbed_path=Path(lacbed_root) / family / f"{sid}.tif",
                    metadata=row,
                    deformation_path=None if deformation_root is None else Path(deformation_root) / family / f"{sid}.tif",
                )
            )
    return refs


def _plain(value: Any) -> Any:
    """numpy scalars → Python; NaN (empty CSV cell) → None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


#: sha256 of an image's little-endian float32 pixel bytes (independent of TIFF metadata)
image_sha256 = pixel_sha256


def _failed_marker(path: Path, sample_id: str, meta: Mapping[str, Any]) -> str | None:
    marker = path.parent / f"{sample_id}.failed"
    if marker.exists():
        try:  # the marker of the batch job holds the error (JSON: sample_id, stage, error)
            error = json.loads(marker.read_text()).get("error")
        except (OSError, ValueError, AttributeError):
            error = None
        return f"{error} (marker {marker})" if error else f"failed-simulation marker file {marker}"
    if meta.get("failed") is True:
        return "metadata marks the simulation as failed"
    status = meta.get("status")
    if status is not None and str(status).lower() != "ok":
        return f"metadata status {status!r} (expected 'ok')"
    return None


@dataclass
class _Checked:
    ref: SampleRef
    sha: dict[str, str]
    lo: dict[str, float]
    hi: dict[str, float]
    meta: dict[str, dict[str, Any]]


def _read_checked(ref: SampleRef, kind: str) -> tuple[np.ndarray | None, dict[str, Any], str | None]:
    path = ref.path(kind)
    if not path.is_file():
        reason = _failed_marker(path, ref.sample_id, {}) or f"{kind} image missing: {path}"
        return None, {}, reason
    try:
        image, meta = read_tiff(path)
    except InputError as exc:
        return None, {}, f"{kind} image unreadable: {exc}"
    reason = _failed_marker(path, ref.sample_id, meta)
    if reason:
        return None, meta, f"{kind}: {reason}"
    if meta.get("sample_id") not in (None, ref.sample_id):
        return None, meta, f"{kind} image metadata names sample {meta.get('sample_id')!r}"
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        return None, meta, f"{kind} image shape {image.shape} is not square 2-D"
    n_bad = int(np.size(image) - np.count_nonzero(np.isfinite(image)))
    if n_bad:
        return None, meta, f"{kind} image has {n_bad} non-finite pixel(s)"
    return image, meta, None


def _check_samples(refs: Sequence[SampleRef], side: int | None, kinds: Sequence[str] = KINDS) -> tuple[list[_Checked], list[dict[str, str]], int]:
    """First pass: read every image, find the reasons to exclude, the side, extrema and hashes."""
    ok: list[_Checked] = []
    excluded: list[dict[str, str]] = []
    seen: set[str] = set()
    for ref in refs:
        if ref.sample_id in seen:
            excluded.append({"sample_id": ref.sample_id, "reason": "duplicate sample id"})
            continue
        seen.add(ref.sample_id)
        item = _Checked(ref, {}, {}, {}, {})
        reason = None
        for kind in kinds:
            image, meta, reason = _read_checked(ref, kind)
            if reason:
                break
            assert image is not None
            item.sha[kind] = image_sha256(image)
            item.lo[kind] = float(image.min())
            item.hi[kind] = float(image.max())
            item.meta[kind] = {"side": image.shape[0], **meta}
        if reason:
            excluded.append({"sample_id": ref.sample_id, "reason": reason})
            continue
        other = next((k for k in kinds[1:] if item.meta[k]["side"] != item.meta["edd"]["side"]), None)
        if other is not None:
            excluded.append(
                {
                    "sample_id": ref.sample_id,
                    "reason": f"EDD side {item.meta['edd']['side']} differs from {other} side {item.meta[other]['side']}",
                }
            )
            continue
        ok.append(item)
    if side is None:
        if not ok:
            return ok, excluded, 0
        counts = Counter(item.meta["edd"]["side"] for item in ok)
        side = min(counts, key=lambda s: (-counts[s], s))  # most common side, ties → smallest
    keep = []
    for item in ok:
        if item.meta["edd"]["side"] != side:
            excluded.append(
                {"sample_id": item.ref.sample_id, "reason": f"side {item.meta['edd']['side']} differs from the dataset side {side}"}
            )
        else:
            keep.append(item)
    return keep, excluded, int(side)


def _manifest(items: Sequence[_Checked]) -> pd.DataFrame:
    rows = []
    for index, item in enumerate(items):
        # the variant's own "index" (its number within the family) must not overwrite the stack row
        variant = {("variant_index" if k == "index" else k): v for k, v in item.ref.metadata.items() if k != "sample_id"}
        lac, edd = item.meta["lacbed"], item.meta["edd"]
        row: dict[str, Any] = {"index": index, "sample_id": item.ref.sample_id}
        row.update({k: variant.get(k) for k in LEADING_COLUMNS if k in variant})
        row.update({k: v for k, v in variant.items() if k not in LEADING_COLUMNS})
        row.update(
            {
                "backend": lac.get("backend"),
                "sim_seconds": lac.get("seconds"),
                "thickness": lac.get("thickness_A", lac.get("thickness")),
                "voltage_kv": lac.get("voltage_kv"),
                # the builtin simulator's beams and measured convergence (absent: not recorded)
                "sim_pool_size": lac.get("info_pool_size"),
                "sim_beams_mean": lac.get("info_beams_mean"),
                "sim_strong_beams_used": lac.get("info_min_strong_beams_used"),
                "sim_convergence_rms": lac.get("info_convergence_rms"),
                "sim_converged": lac.get("info_converged"),
                "edd_seconds": edd.get("seconds"),
                # what the EDD image covers: square side [Å], projected cells, whether it is a period
                "edd_field_of_view": edd.get("field_of_view"),
                "edd_cells_in_view": edd.get("cells_in_view"),
                "edd_periodic": edd.get("periodic"),
                **{f"{kind}_sha256": sha for kind, sha in item.sha.items()},
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _frame_text(frame: pd.DataFrame) -> str:
    buffer = _io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _write_stack(path: Path, items: Sequence[_Checked], kind: str, side: int, description: dict[str, Any]) -> dict[str, Any]:
    """Stream the images into one contiguous N × side × side float32 TIFF (memory-mappable);
    returns its record for dataset.json: file size and the sha256 of its pixels in stack order
    (:func:`lacbed_bridge.dataset.integrity.stack_pixel_sha256` recomputes it)."""
    digest = hashlib.sha256()

    def pages() -> Iterator[np.ndarray]:
        for item in items:
            image, _ = read_tiff(item.ref.path(kind))
            if image_sha256(image) != item.sha[kind]:
                raise InputError("image changed while the dataset was being built", path=item.ref.path(kind))
            page = np.ascontiguousarray(image, dtype="<f4")
            digest.update(page.tobytes())
            yield page

    shape = (len(items), side, side)
    bigtiff = len(items) * side * side * 4 > 2**32 - 2**25
    with atomic_write(path, "wb") as handle:
        tifffile.imwrite(
            handle,
            data=pages(),
            shape=shape,
            dtype="<f4",
            description=json.dumps(description, sort_keys=True),
            metadata=None,
            contiguous=True,
            bigtiff=bigtiff,
        )
    return {"file": path.name, "bytes": path.stat().st_size, "pixel_sha256": digest.hexdigest()}


def manifest_data_hash(manifest_text: str) -> str:
    """sha256 of a manifest.csv's text without its wall-time columns (``*seconds``): the hash
    identifies the data, not how long it took to make (the ``dataset_hash`` of dataset.json;
    :func:`lacbed_bridge.dataset.integrity.verify_dataset` recomputes it from the file)."""
    rows = list(csv.reader(_io.StringIO(manifest_text)))
    if not rows:
        return hashlib.sha256(b"").hexdigest()
    keep = [i for i, column in enumerate(rows[0]) if not column.endswith("seconds")]
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] for i in keep if i < len(row)])
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


#: the folder a build writes into before it moves the finished files into the dataset folder
STAGING_PREFIX = ".building-"


def _commit(stage: Path, out: Path) -> None:
    """Move a finished build from ``stage`` into ``out``: every file by a rename, the splits folder
    swapped whole (no stale split of an earlier build stays), dataset.json last — so until the new
    build is complete the previous dataset stays as it was (issue: a failing build deleted it)."""
    for child in sorted(stage.iterdir()):
        if child.is_file() and child.name != "dataset.json":
            os.replace(child, out / child.name)
    if (stage / "splits").is_dir():
        if (out / "splits").exists():
            os.replace(out / "splits", stage / "previous-splits")
        os.replace(stage / "splits", out / "splits")
    os.replace(stage / "dataset.json", out / "dataset.json")


def convergence_summary(items: Sequence[_Checked]) -> dict[str, Any]:
    """What the discs' metadata say of the simulator's convergence control: how many were checked,
    which did not reach the target, the worst measured RMS change (dataset.json ``convergence``)."""
    checked = [(item.ref.sample_id, item.meta["lacbed"]) for item in items if item.meta["lacbed"].get("info_converged") is not None]
    bad = [(sid, meta) for sid, meta in checked if meta.get("info_converged") is False]
    errors = [float(meta["info_convergence_rms"]) for _, meta in checked if meta.get("info_convergence_rms") is not None]
    targets = sorted({float(meta["info_convergence_target"]) for _, meta in checked if meta.get("info_convergence_target") is not None})
    return {"checked": len(checked), "unconverged": len(bad), "unconverged_samples": [sid for sid, _ in bad],
            "worst_rms": max(errors) if errors else None, "target_rms": targets[0] if len(targets) == 1 else targets or None}


def convergence_line(count: int, total: int, worst: float, target: Any, where: str = "") -> str:
    """One line for discs that did not converge (a batch's log, the end of a run): how many, the
    worst measured RMS change, the target, and what to raise."""
    return (f"{count} of {total} discs{where} did not converge (worst RMS change {worst:.3g}, target {target}): "
            "raise simulation.convergence.max_strong_beams (or the target), or set workflow.require_converged: true "
            "to stop on them")


def convergence_warning(info: Mapping[str, Any]) -> str | None:
    """One line for the end of a run when some of a dataset's discs did not converge (None: all did,
    or the dataset does not say)."""
    summary = info.get("convergence") or {}
    if not summary.get("unconverged"):
        return None
    return (convergence_line(summary["unconverged"], info["counts"]["included"], summary["worst_rms"], summary["target_rms"],
                             " in the dataset") + " (dataset.json: convergence.unconverged_samples)")


def _image_kinds(refs: Sequence[SampleRef], out: Path) -> tuple[str, ...]:
    """The image kinds every sample has (edd, lacbed[, deformation]); InputError when they differ."""
    kind_sets = {r.kinds for r in refs}
    if len(kind_sets) > 1:
        raise InputError(f"the samples do not all have the same image kinds ({sorted(kind_sets)})", path=out, field="deformation")
    return kind_sets.pop() if kind_sets else KINDS


def _usable_samples(refs: Sequence[SampleRef], side: int | None, kinds: Sequence[str],
                    out: Path) -> tuple[list[_Checked], list[dict[str, str]], int]:
    """The samples whose images pass the checks (:func:`_check_samples`), the excluded ones (each
    logged as a warning with its reason) and the image side [px]; InputError when none is usable."""
    items, excluded, side_px = _check_samples(refs, side, kinds)
    for entry in excluded:
        LOG.warning("dataset: excluding %s: %s", entry["sample_id"], entry["reason"])
    if not items:
        raise InputError(
            f"no usable sample among {len(refs)} ({len(excluded)} excluded; first reason: "
            f"{excluded[0]['reason'] if excluded else 'no samples given'})",
            path=out,
        )
    return items, excluded, side_px


def _normalisation(items: Sequence[_Checked], kinds: Sequence[str], out: Path) -> dict[str, dict[str, float]]:
    """One affine map per image kind over the whole dataset (module docstring), in the images'
    units (e/Å², intensity per unit incident beam): offset = min(0, global min), scale = global max
    − offset, with the min and max; InputError for a kind that is zero everywhere (a deformation
    stack of neutral κ = 1 crystals only gets scale 1: zero is its data)."""
    normalisation: dict[str, dict[str, float]] = {}
    for kind in kinds:
        lo = min(item.lo[kind] for item in items)
        hi = max(item.hi[kind] for item in items)
        offset = min(0.0, lo)
        scale = hi - offset
        if not scale > 0 and kind == "deformation":
            scale = 1.0  # neutral κ = 1 crystals only: Δρ is zero everywhere, which is data, not an error
        if not scale > 0:
            raise InputError(f"every {kind} image is zero; cannot normalise", path=out, field=kind)
        normalisation[kind] = {"offset": offset, "scale": scale, "min": lo, "max": hi}
    return normalisation


def _split_labels(manifest: pd.DataFrame, *, seed: int, split_fractions: Sequence[float], n_random_splits: int,
                  loso_groups: Sequence[str] | str | None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The subsets (train / val / test per manifest row) of every split — ``random_<i>`` and one
    leave-one-space-group-out per chosen group, the charge states of one base crystal always in one
    subset — and each split's record for dataset.json (kind, number or group, counts)."""
    n = len(manifest)
    # the charge states of one base crystal always share a subset (no leakage between them)
    bases = manifest["base_id"].astype(str).tolist() if "base_id" in manifest.columns else None
    split_labels: dict[str, np.ndarray] = {}
    split_info: dict[str, dict[str, Any]] = {}
    for number in range(int(n_random_splits)):
        name = random_split_name(number)
        split_labels[name] = random_split(n, split_fractions, seed, number, groups=bases)
        split_info[name] = {"kind": "random", "number": number}
    groups = [canonical_group(g) for g in manifest.get("spacegroup", pd.Series([None] * n)).fillna("")]
    present = sorted({g for g in groups if g})
    if loso_groups == "all":
        chosen = present if len(present) >= 2 else []
    else:
        chosen = [canonical_group(g) for g in (loso_groups or [])]
    for group in chosen:
        name = loso_split_name(group)
        split_labels[name] = loso_split(groups, group, val_fraction=float(split_fractions[1]), seed=seed, bases=bases)
        split_info[name] = {"kind": "loso", "group": group}
    for name, labels in split_labels.items():
        split_info[name]["counts"] = {s: int(np.count_nonzero(labels == s)) for s in ("train", "val", "test")}
    return split_labels, split_info


def _logged_convergence(items: Sequence[_Checked]) -> dict[str, Any]:
    """:func:`convergence_summary` of the discs, with a warning when some did not converge."""
    convergence = convergence_summary(items)
    if convergence["unconverged"]:
        LOG.warning("dataset: %d of %d discs did not converge (worst RMS change %.3g, target %s): %s", convergence["unconverged"],
                    len(items), convergence["worst_rms"], convergence["target_rms"], ", ".join(convergence["unconverged_samples"][:10]))
    return convergence


def _new_stage(out: Path) -> Path:
    """A fresh staging folder inside the dataset folder ``out`` (created), after removing those
    left by builds that were killed."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(STAGING_PREFIX + "*"):  # left by a build that was killed
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=out, prefix=STAGING_PREFIX))


def _write_tables(stage: Path, manifest_text: str, excluded: list[dict[str, str]], ids: list[str],
                  split_labels: dict[str, np.ndarray], split_info: dict[str, dict[str, Any]]) -> None:
    """manifest.csv, excluded.csv and splits/<name>.csv into ``stage``; each split's record gets
    the sha256 of its file."""
    write_text_atomic(stage / "manifest.csv", manifest_text)
    excluded_frame = pd.DataFrame(excluded, columns=["sample_id", "reason"])
    write_text_atomic(stage / "excluded.csv", _frame_text(excluded_frame))
    for name, labels in split_labels.items():
        write_split(stage / "splits" / f"{name}.csv", ids, labels)
        split_info[name]["sha256"] = hashlib.sha256((stage / "splits" / f"{name}.csv").read_bytes()).hexdigest()


def _dataset_json(*, dataset_hash: str, config_hash: str | None, seed: int, side_px: int, counts: dict[str, int],
                  normalisation: dict[str, dict[str, float]], kinds: Sequence[str], stacks: dict[str, Any],
                  split_fractions: Sequence[float], convergence: dict[str, Any], split_info: dict[str, dict[str, Any]],
                  excluded: list[dict[str, str]]) -> dict[str, Any]:
    """The dataset.json record (module docstring): format, versions, hashes, counts, normalisation
    and its rule, kinds, stacks, units, splits, convergence and the excluded samples."""
    return {
        "format": "lacbed-bridge-dataset",
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "dataset_hash": dataset_hash,
        "config_hash": config_hash,
        "seed": int(seed),
        "side": side_px,
        "counts": counts,
        "normalisation": normalisation,
        "normalisation_rule": "x_norm = (x - offset) / scale; offset = min(0, global min), scale = global max - offset",
        "kinds": list(kinds),
        # what integrity.verify_dataset checks before training or scoring on the stacks
        "stacks": stacks,
        "units": {"edd": "e/Å^2 (projected density)", "lacbed": "intensity per unit incident beam",
                  "deformation": "e/Å^2 (projected density minus that of neutral spherical atoms)"},
        "split_fractions": [float(f) for f in split_fractions],
        "convergence": convergence,
        "splits": split_info,
        "excluded": excluded,
    }


def build_dataset(
    samples: Sequence[SampleRef],
    out_dir: str | os.PathLike[str],
    *,
    seed: int,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    n_random_splits: int = 1,
    loso_groups: Sequence[str] | str | None = "all",
    side: int | None = None,
    config_hash: str | None = None,
) -> DatasetInfo:
    """Build the stacks, manifest, normalisation and splits of ``samples`` into ``out_dir``.

    Parameters
    ----------
    samples: the samples (e.g. from :func:`sample_refs_from_variants`); ordered by sample id in the
        output, so the same set gives the same bytes whatever the input order.
    out_dir: the dataset folder (created).
    seed: seed of the random splits (``numpy.random.Generator(PCG64)``).
    split_fractions: (train, val, test) of the random splits; the validation fraction is also used
        for the leave-one-space-group-out splits.
    n_random_splits: how many random splits (``random_0`` … ``random_<n-1>``).
    loso_groups: space groups to hold out one at a time; ``"all"`` = every group present (only when
        there are at least two); ``None`` or empty = none.
    side: required image side [px]; default the most common side among the readable samples.
    config_hash: hash of the config that produced the inputs (recorded for provenance).

    Raises :class:`InputError` when no sample is usable.
    """
    out = Path(out_dir)
    refs = sorted(samples, key=lambda r: r.sample_id)
    kinds = _image_kinds(refs, out)
    items, excluded, side_px = _usable_samples(refs, side, kinds, out)
    manifest = _manifest(items)
    manifest_text = _frame_text(manifest)
    # the hash identifies the data, not how long it took to make: wall times are left out, so the
    # same config and seed give the same dataset.json (and checkpoints stay resumable)
    dataset_hash = manifest_data_hash(manifest_text)
    normalisation = _normalisation(items, kinds, out)
    ids = manifest["sample_id"].tolist()
    split_labels, split_info = _split_labels(manifest, seed=seed, split_fractions=split_fractions,
                                             n_random_splits=n_random_splits, loso_groups=loso_groups)
    convergence = _logged_convergence(items)
    # everything is written into a staging folder inside the dataset folder and moved into place
    # at the end (dataset.json last): a build that fails leaves the previous dataset untouched
    stage = _new_stage(out)
    try:
        description = {"format": "lacbed-bridge-dataset-stack", "dataset_hash": dataset_hash, "side": side_px}
        stacks = {kind: _write_stack(stage / f"{kind}.tif", items, kind, side_px, {**description, "kind": kind, "n": len(items)})
                  for kind in kinds}
        _write_tables(stage, manifest_text, excluded, ids, split_labels, split_info)
        info = _dataset_json(dataset_hash=dataset_hash, config_hash=config_hash, seed=seed, side_px=side_px,
                             counts={"requested": len(refs), "included": len(items), "excluded": len(excluded)},
                             normalisation=normalisation, kinds=kinds, stacks=stacks, split_fractions=split_fractions,
                             convergence=convergence, split_info=split_info, excluded=excluded)
        write_text_atomic(stage / "dataset.json", json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        _commit(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    LOG.info("dataset: %d samples (%d excluded) written to %s", len(items), len(excluded), out)
    return DatasetInfo(out, len(items), side_px, normalisation, split_info, excluded, dataset_hash)


def load_dataset_info(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``dataset.json`` of a built dataset (checked for the format marker)."""
    p = Path(dataset_dir) / "dataset.json"
    info = read_json(p, missing="not a dataset folder (dataset.json missing); run `lacbed-bridge dataset` first")
    if not isinstance(info, dict) or info.get("format") != "lacbed-bridge-dataset":
        raise InputError("not a lacbed-bridge dataset description", path=p, field="format")
    return info
