"""One interface to both backends: crystal + settings → LacbedResult → TIFF (docs/architecture.md §4)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..crystal.cif import read_cif
from ..crystal.model import Crystal
from ..errors import ConfigError, InputError
from .settings import BuiltinOptions, Convergence, LacbedSettings

if TYPE_CHECKING:  # the solver is imported where a simulation runs: the workflow's config check
    # (check_config, run by every snakemake call) must not pay for torch
    from ..crystal.prototypes import Prototype
    from .result import LacbedResult


#: keys of ``simulation.felix`` that change how Felix is run, not what it computes
_RUN_ONLY_FELIX_KEYS = ("timeout_s", "retries", "keep_run_dir")


@dataclass(frozen=True)
class SimulationSettings:
    """The LACBED stage's settings, built once from the config (:func:`simulation_settings`); below
    the command line and the workflow's rules only this object travels, never the config.

    lacbed: the experiment and its beams (geometry, voltage, thicknesses, absorption, pool; the
    felix.inp keys, Felix's own names); builtin: how the builtin backend computes a disc;
    convergence: the builtin backend's convergence control (None: one beam set, as given);
    backend: ``builtin`` or ``felix``; device and pixel_chunk: where and in how many pixels at a
    time the builtin backend runs; thickness_index: which thickness of the series is the sample's
    image; runner: the Felix backend's ``simulation.felix`` settings (schema defaults filled in);
    log_dir: the config's ``output.logs``, under whose ``felix/`` the Felix backend keeps its run
    folders (where a run happens, not what it computes: outside the reuse hash).
    """

    lacbed: LacbedSettings
    builtin: BuiltinOptions
    convergence: Convergence | None
    backend: str
    device: str
    pixel_chunk: int
    thickness_index: int
    runner: dict[str, Any]
    log_dir: str

    @property
    def thickness(self) -> float:
        """The sample image's thickness [Å]."""
        return self.lacbed.thicknesses[self.thickness_index]

    def reuse_hash(self) -> str:
        """sha256 of every setting the disc depends on: an image is reused (and the workflow's
        simulate jobs are left alone) only when this and its CIF bytes match. ``pixel_chunk``, the
        log folder and the Felix runner's timeout, retries and run-folder keeping change how the
        work is done, not its result, and are left out. The hashed mapping keeps the shape it had
        when the convergence control sat inside the builtin options, so images made before are
        still reused (tested)."""
        from dataclasses import asdict

        from ..config import config_hash

        builtin: dict[str, Any] = {"pool_mode": self.builtin.pool_mode, "use_symmetry": self.builtin.use_symmetry,
                                   "mean_absorption": self.builtin.mean_absorption,
                                   "complex_dtype": self.builtin.complex_dtype, "solver": self.builtin.solver,
                                   "convergence": None if self.convergence is None else asdict(self.convergence)}
        if self.builtin.constants != BuiltinOptions.constants:
            builtin["constants"] = self.builtin.constants
        runner = {k: v for k, v in self.runner.items() if k not in _RUN_ONLY_FELIX_KEYS}
        return config_hash({"felix": self.lacbed.to_config(), "builtin": builtin, "backend": self.backend,
                            "device": self.device, "thickness_index": self.thickness_index,
                            "runner": runner if self.backend == "felix" else None})


def simulation_settings(config: dict[str, Any], *, family: str | dict[str, Any] | None = None,
                        path: str | os.PathLike[str] | None = None) -> SimulationSettings:
    """The simulation settings of a config (its ``simulation`` section; absent keys: the schema's
    defaults). ``family``: a family's name or ``families`` item, whose own beam, x and surface-normal
    directions (``families[].geometry``, :mod:`lacbed_bridge.family_geometry`) replace the config's.
    A thickness index outside the series is a ConfigError."""
    from ..config import section_settings

    section = config["simulation"]
    values = section_settings(config, "simulation")
    if "backend" not in values:
        raise ConfigError("missing key: 'backend' (builtin or felix)", path=path, field="simulation.backend")
    lacbed = LacbedSettings.from_config(section)
    if family is not None:
        lacbed = with_family_geometry(lacbed, config, family, path=path)
    index = int(values["thickness_index"])
    if index >= len(lacbed.thicknesses):
        raise ConfigError(f"value {index} is outside the thickness series of {len(lacbed.thicknesses)} thickness(es) "
                          f"{lacbed.thicknesses} Å", path=path, field="simulation.thickness_index")
    return SimulationSettings(lacbed=lacbed, builtin=BuiltinOptions.from_config(section),
                              convergence=Convergence.from_config(values["convergence"]), backend=str(values["backend"]),
                              device=str(values["device"]), pixel_chunk=int(values["pixel_chunk"]), thickness_index=index,
                              runner=section_settings(config, "simulation.felix"),
                              log_dir=str(section_settings(config, "output")["logs"]))


def with_family_geometry(lacbed: LacbedSettings, config: dict[str, Any], family: str | dict[str, Any], *,
                         path: str | os.PathLike[str] | None = None) -> LacbedSettings:
    """``lacbed`` with the family's own beam, x and surface-normal directions (three-index; what the
    family leaves out stays). A family's directions that make no sense are a ConfigError naming
    ``families[i].geometry``."""
    from ..family_geometry import family_geometry

    geometry = family_geometry(config, family)
    if not geometry:
        return lacbed
    try:
        return replace(lacbed, **geometry).validate()
    except InputError as exc:
        name = family if isinstance(family, str) else family.get("name", "?")
        raise ConfigError(f"{exc.message} (family {name!r})", path=path, field=f"families[{name}].geometry") from None


def check_config(config: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> list[list[Prototype]]:
    """Check a validated config's simulation and families, before any job runs: the simulation
    settings make physical sense (thicknesses, beams, directions not zero), the thickness index lies
    in the series, every family passes :func:`~lacbed_bridge.crystal.variants.check_family`, and the
    beam, x direction and surface normal form a usable microscope frame for every family's
    prototype. Errors name our config key (with Felix's name). Returns each family's prototypes.
    (Family names: :func:`lacbed_bridge.pipeline.config_check.check_names`, which the whole-config check runs.)"""
    from ..crystal.lattice import lattice_system
    from ..crystal.variants import check_family
    from ..family_geometry import family_geometry, is_four_index
    from ..crystal.orientation import microscope_frame
    from .settings import CONFIG_KEYS

    felix_to_config = {felix: key for key, felix in CONFIG_KEYS.items()}

    def named(exc: InputError) -> ConfigError:
        if exc.field and exc.field.startswith("simulation."):  # already our config's key
            return ConfigError(exc.message, path=path, field=exc.field)
        key = felix_to_config.get(exc.field or "", exc.field)
        message = str(exc).split(": ", 1)[-1] if exc.field else str(exc)
        felix = f" ({exc.field} in felix.inp)" if exc.field in felix_to_config else ""
        return ConfigError(f"{message}{felix}", path=path, field=f"simulation.{key}")

    try:
        settings = simulation_settings(config, path=path).lacbed
    except InputError as exc:
        raise named(exc) from None
    every: list[list[Prototype]] = []
    for i, family in enumerate(config["families"]):
        try:
            prototypes = check_family(family, f"families[{i}]")
            every.append(prototypes)
            geometry = family_geometry(config, family)
        except InputError as exc:  # the config's key (an unknown element symbol is an InputError)
            raise ConfigError(exc.message, path=path, field=exc.field) from None
        four = is_four_index(family)
        for prototype in prototypes:
            system = lattice_system(prototype.gemmi_spacegroup())
            if four and system != "hexagonal":
                raise ConfigError(f"four-index (Miller–Bravais) notation needs a hexagonal cell; prototype "
                                  f"{prototype.key!r} is {system}", path=path, field=f"families[{i}].geometry.{four[0]}")
        if not geometry:
            frame_settings = settings
        else:
            try:
                frame_settings = replace(settings, **geometry).validate()
            except InputError as exc:
                raise ConfigError(str(exc).split(": ", 1)[-1], path=path, field=f"families[{i}].geometry") from None
        try:
            for prototype in prototypes:
                microscope_frame(prototype.crystal(), frame_settings.geometry)
        except InputError as exc:
            if not geometry:
                raise named(exc) from None
            key = felix_to_config.get(exc.field or "", exc.field)
            raise ConfigError(f"{str(exc).split(': ', 1)[-1]} (family {family['name']!r})", path=path,
                              field=f"families[{i}].geometry.{key}" if key in (family.get("geometry") or {})
                              else f"simulation.{key}") from None
    return every


def simulate(
    crystal: Crystal,
    settings: SimulationSettings,
    *,
    backend: str | None = None,
    device: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    hkl: tuple[tuple[int, int, int], ...] = ((0, 0, 0),),
) -> LacbedResult:
    """Simulate with the settings' backend (or ``backend``: ``builtin`` or ``felix``) on the
    settings' device (or ``device``). The builtin backend runs the convergence control when the
    settings have one (the (000) disc only); the Felix backend runs in ``work_dir`` (default: a
    temporary folder)."""
    backend = backend or settings.backend
    device = device or settings.device
    if backend == "builtin":
        from .bloch import simulate_builtin

        if settings.convergence is not None:
            from .convergence import simulate_converged

            if tuple(map(tuple, hkl)) != ((0, 0, 0),):
                raise ConfigError("convergence control computes the (000) disc only", field="simulation.convergence")
            return simulate_converged(crystal, settings.lacbed, settings.convergence, settings.builtin, device=device,
                                      pixel_chunk=settings.pixel_chunk)
        return simulate_builtin(crystal, settings.lacbed, settings.builtin, hkl=hkl, device=device,
                                pixel_chunk=settings.pixel_chunk)
    if backend == "felix":
        from .felix.backend import simulate_felix

        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="felix-") as tmp:
                return simulate_felix(crystal, settings.lacbed, settings.runner, work_dir=tmp, hkl=hkl)
        return simulate_felix(crystal, settings.lacbed, settings.runner, work_dir=work_dir, hkl=hkl)
    raise ConfigError(f"expected 'builtin' or 'felix', got {backend!r}", field="simulation.backend")


def run_simulation(
    cif_path: str | os.PathLike[str],
    settings: SimulationSettings,
    out_path: str | os.PathLike[str],
    *,
    backend: str | None = None,
    device: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Simulate the (000) disc of one CIF with ``settings`` and write the sample TIFF.

    The image is the thickness ``settings.thickness_index`` of the series (float32, raw
    intensities, Felix's orientation); its metadata records backend, thickness, seconds, device.
    Nothing is written if the simulation fails. With the Felix backend the run folders go under
    ``<output.logs>/felix/`` (``settings.log_dir``; or ``work_dir``): a successful run leaves its
    ``<sample>.felix.log`` there, a failed one its folder (inputs and ``felix.log``), so the log the
    error and the TIFF metadata name still exists afterwards.
    """
    from .output import write_lacbed_tiff

    crystal = read_cif(cif_path)
    result, thickness_index = simulate_sample(crystal, settings, backend=backend, device=device, work_dir=work_dir)
    sample_id = Path(cif_path).stem
    return write_lacbed_tiff(out_path, result, sample_id=sample_id, thickness_index=thickness_index)


def simulate_sample(
    crystal: Crystal,
    settings: SimulationSettings,
    *,
    backend: str | None = None,
    device: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> tuple[LacbedResult, int]:
    """The in-memory half of :func:`run_simulation` (which the command line and the workflow call,
    and so does the Python API, ``lacbed_bridge.api.simulate_disc``): simulate a crystal with the
    stage's settings. Returns the result (discs of the whole thickness series, intensity per unit
    incident beam) and the index ``simulation.thickness_index`` of the sample's thickness in it.
    ``backend`` and ``device`` override the settings'; with the Felix backend and no ``work_dir``
    the run folders go under ``<output.logs>/felix/``."""
    chosen = backend or settings.backend
    if chosen == "felix" and work_dir is None:
        work_dir = Path(settings.log_dir) / "felix"
        work_dir.mkdir(parents=True, exist_ok=True)
    result = simulate(crystal, settings, backend=chosen, device=device, work_dir=work_dir)
    return result, settings.thickness_index
