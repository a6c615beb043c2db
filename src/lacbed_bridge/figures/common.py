"""Shared pieces of the paper figures: display transforms, loaders of ``results/``, saving.

Display conventions (docs/architecture.md §5), applied with the dataset-wide normalisation constants of
``dataset/dataset.json`` (``x_norm = (x − offset) / scale``, one pair per image kind), never with a
per-image scaling, so that the few-per-cent charge signal stays visible:

* EDD: normalised charge strength ``(ρ − offset) / scale`` ∈ [0, 1] (ρ the projected density
  [e/Å²]); colour map ``viridis``;
* LACBED: inverse intensity ``1 − (I − offset) / scale`` (= 1 − I/I_max for the usual offset 0);
  0 (white) where electrons are most likely; colour map ``gray_r`` on [0, 1].

Images are drawn with ``origin="lower"``: row r of an array is the r-th value of y (k_y for
LACBED, Felix's orientation), so +y points up.

Figures are built as :class:`matplotlib.figure.Figure` objects without pyplot (no global state and
no change of the user's backend; ``savefig`` renders PNG with Agg and PDF with the PDF backend) and written atomically as PNG and PDF without time stamps, so that the same
``results/`` give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..dataset.splits import canonical_group
from ..dataset.view import DatasetView, normalise, open_dataset
from ..errors import InputError
from ..io import atomic_write
from ..layout import MODEL_ORDER, ModelRun, find_model_runs, layout, model_rank, pick_model  # noqa: F401  (re-exported)

from ..layout import FIGURE_FORMATS as FORMATS
from ..layout import FIGURE_NAMES  # noqa: F401  (re-exported: the figure names the workflow expects)
DPI = 200
#: Colour maps per display kind.
CMAPS = {"edd": "viridis", "lacbed": "gray_r", "difference": "RdBu_r"}
#: Human-readable names of the display quantities (colour-bar labels).
DISPLAY_LABELS = {
    "edd": "EDD: normalised charge strength",
    "lacbed": "LACBED: inverse intensity 1 − I/I$_\\mathrm{max}$",
}
KIND_NAMES = {"edd": "EDD", "lacbed": "LACBED"}
#: One colour per direction, one line style per model (training curves, metrics).
DIRECTION_COLOURS = {"edd2lacbed": "#1f77b4", "lacbed2edd": "#d62728"}
DIRECTION_LABELS = {"edd2lacbed": "EDD → LACBED", "lacbed2edd": "LACBED → EDD"}
MODEL_STYLES = {"pix2pix": "-", "unet": "--"}
MODEL_LABELS = {"pix2pix": "pix2pix (U-Net + PatchGAN)", "unet": "U-Net (regression baseline)"}


# ----- display transforms -----------------------------------------------------------------------
def edd_display(raw: np.ndarray, constants: Mapping[str, float]) -> np.ndarray:
    """Normalised charge strength of an EDD image [dimensionless, 0..1 over the dataset].

    ``(ρ − offset) / scale`` with the dataset-wide constants of the EDD kind; ρ in [e/Å²].
    """
    return np.asarray(normalise(np.asarray(raw, dtype=np.float64), constants), dtype=np.float64)


def lacbed_display(raw: np.ndarray, constants: Mapping[str, float]) -> np.ndarray:
    """Inverse intensity of a LACBED image: ``1 − (I − offset) / scale`` [dimensionless].

    With the usual offset 0 this is 1 − I/I_max (I_max the dataset-wide maximum): 0 where the
    intensity is highest (drawn white), 1 where no electrons arrive.
    """
    return 1.0 - np.asarray(normalise(np.asarray(raw, dtype=np.float64), constants), dtype=np.float64)


def display(kind: str, raw: np.ndarray, normalisation: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """The display values of an image of ``kind`` (``edd`` or ``lacbed``) in raw physical units."""
    if kind == "edd":
        return edd_display(raw, normalisation["edd"])
    if kind == "lacbed":
        return lacbed_display(raw, normalisation["lacbed"])
    raise InputError(f"unknown image kind {kind!r}; expected 'edd' or 'lacbed'", field="kind")


def symmetric_limit(images: Sequence[np.ndarray], floor: float = 1e-12) -> float:
    """The largest |value| over ``images`` (colour limit of a signed, diverging map)."""
    values = [float(np.nanmax(np.abs(im))) for im in images if np.size(im)]
    return max([floor, *values])


# ----- axes helpers -------------------------------------------------------------------------------
def not_available(ax: Axes, reason: str) -> None:
    """Mark a panel as not available, with the reason, instead of failing."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"not available\n{reason}", ha="center", va="center", wrap=True, fontsize=9,
            color="0.35", transform=ax.transAxes)


def draw_image(ax: Axes, values: np.ndarray, kind: str, *, extent: Sequence[float] | None = None,
               limit: float | None = None, gid: str | None = None) -> Any:
    """Draw display values: ``kind`` ``edd``/``lacbed`` on [0, 1], ``difference`` on ±limit.

    ``gid`` tags the image (``AxesImage.get_gid()``) so tests can find the panel's data.
    """
    if kind == "difference":
        lim = limit if limit is not None else symmetric_limit([values])
        vmin, vmax = -lim, lim
    else:
        vmin, vmax = 0.0, 1.0
    image = ax.imshow(values, cmap=CMAPS[kind], vmin=vmin, vmax=vmax, origin="lower", extent=extent,
                      interpolation="nearest")
    if gid:
        image.set_gid(gid)
    return image


def configured_field_of_view(config: Mapping[str, Any], a: Any) -> Any:
    """The EDD field of view [Å] the config asks for (``edd.field_of_view``), or the lattice
    parameter ``a`` where that is the field of view (``lattice``); only for datasets whose
    manifest lacks ``edd_field_of_view``."""
    fov = (config.get("edd") or {}).get("field_of_view", "lattice")
    return a if fov in (None, "lattice") else float(fov)


def edd_extent(field_of_view: float) -> list[float]:
    """imshow extent of an EDD image [Å]: the crystal origin at the centre, ±fov/2."""
    half = 0.5 * float(field_of_view)
    return [-half, half, -half, half]


def coverage_note(row: Any) -> str:
    """What an EDD image covers, for an axis label: empty for a square that is one or more whole
    projected cells (a period of the projected lattice); else the number of projected cells it
    spans and that it is not a period (hexagonal crystals along [0001]: 1.15 cells)."""
    try:
        cells = float(row.get("edd_cells_in_view"))
    except (TypeError, ValueError):
        return ""
    periodic = str(row.get("edd_periodic")).strip().lower() in ("true", "1")
    if not np.isfinite(cells) or periodic:
        return ""
    return f"\nview: {cells:.3g} projected cells, not a lattice period"


def lacbed_extent(outer_convergence_angle: float) -> list[float]:
    """imshow extent of a LACBED (000) disc [Å⁻¹, no 2π]: ±ROuterConvergenceAngle (the disc radius)."""
    r = float(outer_convergence_angle)
    return [-r, r, -r, r]


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


# ----- saving -----------------------------------------------------------------------------------
def save_figure(fig: Figure, out_dir: str | os.PathLike[str], name: str) -> list[Path]:
    """Write ``<out_dir>/<name>.png`` and ``.pdf`` atomically, without time stamps; returns the paths."""
    out = Path(out_dir)
    written = []
    for fmt in FORMATS:
        path = out / f"{name}.{fmt}"
        metadata = {"Software": None} if fmt == "png" else {"Creator": None, "Producer": None, "CreationDate": None}
        with atomic_write(path, "wb") as handle:
            fig.savefig(handle, format=fmt, dpi=DPI, metadata=metadata)
        written.append(path)
    return written


# ----- loaders of results/ ---------------------------------------------------------------------
# The dataset view (dataset/view.py) and the trained models found under results/ (layout.py)
# are re-exported here for the figure modules.
def load_dataset(results: str | os.PathLike[str]) -> DatasetView:
    """Open ``results/dataset``; a missing or broken required file is an :class:`InputError` naming it."""
    return open_dataset(layout(results).dataset_dir())


def read_json_tolerant(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A JSON object from a file, or None if it is missing or not a JSON object.

    Benchmark files hold the benchmark's last printed line; a file whose last non-empty line is the
    JSON object (a whole log) is accepted too.
    """
    p = Path(path)
    if not p.is_file():
        return None
    text = p.read_text(errors="replace").strip()
    for candidate in (text, *(line for line in reversed(text.splitlines()) if line.strip())):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else None
    return None


def config_split(config: Mapping[str, Any]) -> str:
    """The split the models are trained on (``train.split``)."""
    from ..pipeline.settings import WorkflowSettings

    return WorkflowSettings.from_config(config).split


def n_figure_samples(config: Mapping[str, Any]) -> int:
    """Test samples per direction in the prediction figure (``workflow.n_figure_samples``)."""
    from ..pipeline.settings import WorkflowSettings

    return WorkflowSettings.from_config(config).n_figure_samples


def group_of(value: Any) -> str:
    """Canonical space-group symbol of a manifest cell (``'F -4 3 m'`` → ``'F-43m'``), '' if empty."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return canonical_group(str(value))
