"""The LACBED experiment's settings with Felix's own names and meanings (docs/architecture.md §4), and the felix.inp format.

:class:`LacbedSettings` is the microscope and specimen a disc is computed for (beam, image x axis
and surface normal, voltage, convergence, thicknesses, absorption) and the beams it is computed
with; both backends and the EDD projection (which shares the disc's frame and image size) read it.
It holds every key of Felix's ``felix.inp`` (layout of Felix master 9034b2a), so a felix.inp reads
into it and is written from it.
``config.yaml`` uses the same names in snake_case without the type prefix (``IPixelCount`` →
``pixel_count``); :data:`CONFIG_KEYS` is the mapping; ``_LAYOUT`` is the order of the keys in
``felix.inp``, which :mod:`.felix.inp` writes and reads.

Units: voltage [kV]; thicknesses [Å]; ``outer_convergence_angle`` is, despite its Felix name, the
disc radius in k-space [1/Å, no 2π] (docs/felix_physics.md §4); ``g_limit`` [1/Å, no 2π]; Debye–Waller
constant B [Å²]; ``absorption_per`` [%].
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from ..config import schema_defaults
from ..crystal.orientation import BeamGeometry
from ..errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch

Vector = tuple[int, int, int]
PoolMode = Literal["felix", "shells"]
Solver = Literal["auto", "expm", "chebyshev", "eigen"]
#: the schema's defaults of ``simulation`` (the one place they are written; the dataclasses take them)
_SIM = schema_defaults("simulation")
_CONVERGENCE = schema_defaults("simulation.convergence")

#: felix.inp keys used only by Felix's refinement mode (not part of config.yaml)
REFINEMENT_ONLY = frozenset(
    {"weighting_flag", "refine_method_flag", "correlation_flag", "image_processing_flag", "noof_ugs",
     "atomic_sites", "print_flag", "simplex_length_scale", "exit_criteria"}
)


#: limits past which a simulation is refused up front (memory and time; docs/conventions.md)
MAX_REFLECTION_POOL = 20_000  # the n² complex coupling matrix: 6 GiB
MAX_STRONG_BEAMS = 5_000  # per pixel an m × m matrix exponential (400 MB, minutes)
MAX_THICKNESSES = 10_000  # thicknesses of one series (each a disc kept in memory)


@dataclass(frozen=True)
class BeamSelection:
    """How many beams: the pool size IMinReflectionPool (000 included), IMinStrongBeams per pixel,
    and RgLimit [1/Å, no 2π] (0: the pool size decides)."""

    min_reflection_pool: int
    min_strong_beams: int
    g_limit: float


@dataclass(frozen=True)
class PotentialSettings:
    """What the crystal potential U_g depends on besides the crystal: the accelerating voltage
    [kV] (relativistic factor γ in U_g = γF_g/(πV)), the absorption model (IAbsorbFLAG: 0 none, 1
    proportional with RAbsorptionPer [%], 2 Bird–King) and the Debye–Waller constant B [Å²] used
    where a site has none."""

    accelerating_voltage: float
    absorb_flag: int
    absorption_per: float
    debye_waller_constant: float


@dataclass(frozen=True)
class LacbedSettings:
    """The LACBED experiment and its beams: every felix.inp key (simulation mode). Defaults: the
    schema's, which are Felix's reference case (GaAs [-110], 200 kV, Bird–King, 930 Å); the keys
    of Felix's refinement mode, which are not config keys, keep Felix's own values."""

    write_flag: int = _SIM["write_flag"]
    scatter_factor_method_flag: int = _SIM["scatter_factor_method_flag"]
    holz_flag: int = _SIM["holz_flag"]
    absorb_flag: int = _SIM["absorb_flag"]
    byte_size: int = _SIM["byte_size"]
    pixel_count: int = _SIM["pixel_count"]
    min_reflection_pool: int = _SIM["min_reflection_pool"]
    min_strong_beams: int = _SIM["min_strong_beams"]
    min_weak_beams: int = _SIM["min_weak_beams"]
    g_limit: float = _SIM["g_limit"]
    debye_waller_constant: float = _SIM["debye_waller_constant"]
    absorption_per: float = _SIM["absorption_per"]
    outer_convergence_angle: float = _SIM["outer_convergence_angle"]
    incident_beam_direction: Vector = tuple(_SIM["incident_beam_direction"])  # type: ignore[assignment]
    x_direction: Vector = tuple(_SIM["x_direction"])  # type: ignore[assignment]
    normal_direction: Vector = tuple(_SIM["normal_direction"])  # type: ignore[assignment]
    accelerating_voltage: float = _SIM["accelerating_voltage"]
    acceptance_angle: float = _SIM["acceptance_angle"]
    initial_thickness: float = _SIM["initial_thickness"]
    final_thickness: float = _SIM["final_thickness"]
    delta_thickness: float = _SIM["delta_thickness"]
    precision: float = _SIM["precision"]
    refine_mode_flag: str = _SIM["refine_mode_flag"]
    # the keys below but blur_radius belong to Felix's refinement mode (REFINEMENT_ONLY): not config
    # keys, so Felix's own values
    weighting_flag: int = 0
    refine_method_flag: int = 3
    correlation_flag: int = 2
    image_processing_flag: int = 4
    blur_radius: float = _SIM["blur_radius"]
    noof_ugs: int = 40
    atomic_sites: str = "(1,2)"
    print_flag: int = 0
    simplex_length_scale: float = 20.0
    exit_criteria: float = 1e-05

    # ----- derived ----------------------------------------------------------------------
    @property
    def geometry(self) -> BeamGeometry:
        """The beam, x and surface-normal directions (what the microscope frame needs)."""
        return BeamGeometry(self.incident_beam_direction, self.x_direction, self.normal_direction)

    @property
    def beam_selection(self) -> BeamSelection:
        """The pool size, strong beams per pixel and g limit (what the beam choice needs)."""
        return BeamSelection(self.min_reflection_pool, self.min_strong_beams, self.g_limit)

    @property
    def potential(self) -> PotentialSettings:
        """Voltage, absorption model and Debye–Waller constant (what U_g needs)."""
        return PotentialSettings(self.accelerating_voltage, self.absorb_flag, self.absorption_per, self.debye_waller_constant)

    @property
    def side(self) -> int:
        """Image side in pixels (2 × IPixelCount)."""
        return 2 * self.pixel_count

    @property
    def thicknesses(self) -> list[float]:
        """The thickness series [Å]: n = NINT((final − initial)/delta) + 1, both ends included
        (Felix felixrefine.f90:400; docs/felix_physics.md §7)."""
        if self.delta_thickness <= 0 or self.final_thickness <= self.initial_thickness:
            return [float(self.initial_thickness)]
        n = int(nint((self.final_thickness - self.initial_thickness) / self.delta_thickness)) + 1
        return [float(self.initial_thickness + i * self.delta_thickness) for i in range(n)]

    def validate(self, *, path: str | os.PathLike[str] | None = None) -> LacbedSettings:
        """Check physical sense of the values; raise :class:`InputError` naming the key."""
        def bad(key: str, msg: str) -> InputError:
            return InputError(msg, path=path, field=FELIX_NAMES.get(key, key))

        low, high = pixel_count_range()
        if not low <= self.pixel_count <= high:
            raise bad("pixel_count", f"expected an integer in {low}..{high} (disc radius in pixels), got {self.pixel_count}")
        if self.initial_thickness <= 0:
            raise bad("initial_thickness", f"expected a positive thickness in Å, got {self.initial_thickness}")
        if self.final_thickness < self.initial_thickness and self.final_thickness > 0:
            raise bad("final_thickness", f"expected ≥ RInitialThickness ({self.initial_thickness}), got {self.final_thickness}")
        if self.final_thickness <= 0:
            raise bad("final_thickness", f"expected a positive thickness in Å, got {self.final_thickness}")
        if self.final_thickness > self.initial_thickness and self.delta_thickness <= 0:
            raise bad("delta_thickness", f"expected a positive step in Å, got {self.delta_thickness}")
        if self.accelerating_voltage <= 0:
            raise bad("accelerating_voltage", f"expected a positive voltage in kV, got {self.accelerating_voltage}")
        if self.outer_convergence_angle <= 0:
            raise bad("outer_convergence_angle", f"expected a positive disc radius in 1/Å, got {self.outer_convergence_angle}")
        if self.min_reflection_pool < 2:
            raise bad("min_reflection_pool", f"expected ≥ 2 (the pool includes 000), got {self.min_reflection_pool}")
        # bounded memory and time: refuse up front what no machine finishes (docs/conventions.md)
        if self.min_reflection_pool > MAX_REFLECTION_POOL:
            gib = 16 * self.min_reflection_pool**2 / 2**30
            raise bad("min_reflection_pool", f"{self.min_reflection_pool} reflections: the pool's coupling matrix alone would "
                      f"take {gib:.3g} GiB; at most {MAX_REFLECTION_POOL}")
        if self.min_strong_beams > MAX_STRONG_BEAMS:
            raise bad("min_strong_beams", f"{self.min_strong_beams} strong beams: one pixel's {self.min_strong_beams}² matrix "
                      f"exponential is beyond reach; at most {MAX_STRONG_BEAMS}")
        if self.final_thickness > self.initial_thickness and self.delta_thickness > 0:
            count = (self.final_thickness - self.initial_thickness) / self.delta_thickness + 1
            if count > MAX_THICKNESSES:
                raise bad("delta_thickness", f"{self.initial_thickness:g}–{self.final_thickness:g} Å in steps of "
                          f"{self.delta_thickness:g} Å is {count:.3g} thicknesses (every one propagated and kept); at most "
                          f"{MAX_THICKNESSES}")
        if not 1 <= self.min_strong_beams <= self.min_reflection_pool:
            raise bad("min_strong_beams", f"expected 1..IMinReflectionPool ({self.min_reflection_pool}), got {self.min_strong_beams}")
        for key in ("incident_beam_direction", "x_direction", "normal_direction"):
            vec = getattr(self, key)
            if len(vec) != 3 or all(v == 0 for v in vec):
                raise bad(key, f"expected three integers, not all zero, got {list(vec)}")
        if self.absorb_flag not in (0, 1, 2):
            raise bad("absorb_flag", f"expected 0 (none), 1 (proportional) or 2 (Bird–King), got {self.absorb_flag}")
        if self.absorption_per < 0:
            raise bad("absorption_per", f"expected a percentage ≥ 0, got {self.absorption_per}")
        return self

    def to_config(self) -> dict[str, Any]:
        """The settings as a config.yaml ``simulation`` mapping (lists for vectors), without the
        refinement-only keys (they keep their defaults when felix.inp is written)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key not in REFINEMENT_ONLY:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> LacbedSettings:
        """Build from a config.yaml ``simulation`` mapping; keys not in felix.inp are ignored."""
        names = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in section.items():
            if key in names:
                kwargs[key] = tuple(int(v) for v in value) if isinstance(value, list) else value
        return replace(cls(), **kwargs).validate()


@dataclass(frozen=True)
class BuiltinOptions:
    """How the builtin backend computes a disc, besides the experiment (config ``simulation``;
    defaults: the schema's).

    pool_mode: ``shells`` (complete shells of equal |g|: the disc has the symmetry of the crystal
        along the beam) or ``felix`` (Felix's HKLMake pool, cut mid-shell; see :mod:`.pool`);
    use_symmetry: compute one pixel per orbit of the disc's symmetry and copy it (:mod:`.symmetry`;
        only for the (000) disc alone and a pool of complete shells, else ignored);
    mean_absorption: keep the mean absorptive potential U'(0) that Felix leaves out (then I ≤ 1
        everywhere; docs/conventions.md);
    complex_dtype: ``auto`` (complex128 on CPU, complex64 on GPU), ``complex64`` or ``complex128``;
    solver: ``expm``, ``chebyshev``, ``eigen`` or ``auto`` (:func:`.bloch.resolve_solver`);
    constants: ``codata``, or ``felix`` (Felix's hard-coded constants, c typo included; the
        drop-in's choice, not a config key; :mod:`.electron`).

    :meth:`as_felix` is Felix's own beam choice (its pool, no symmetry), for reproducing Felix.
    """

    pool_mode: PoolMode = _SIM["pool"]
    use_symmetry: bool = _SIM["use_symmetry"]
    mean_absorption: bool = _SIM["mean_absorption"]
    complex_dtype: str = _SIM["complex_dtype"]
    solver: Solver = _SIM["solver"]
    constants: str = "codata"

    @classmethod
    def as_felix(cls, **changes: Any) -> BuiltinOptions:
        """Felix's beam choice: its pool cut mid-shell and every pixel computed (no symmetry), with
        ``changes`` (e.g. ``constants="felix"`` for Felix's constants too)."""
        return replace(cls(pool_mode="felix", use_symmetry=False), **changes)

    @property
    def dtype(self) -> torch.dtype | None:
        """The torch complex dtype (None: the device's default)."""
        import torch

        return None if self.complex_dtype == "auto" else getattr(torch, self.complex_dtype)

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> BuiltinOptions:
        """From a config's ``simulation`` section (absent keys: the schema's defaults)."""
        values = {**_SIM, **section}
        return cls(pool_mode=values["pool"], use_symmetry=bool(values["use_symmetry"]),
                   mean_absorption=bool(values["mean_absorption"]), complex_dtype=str(values["complex_dtype"]),
                   solver=values["solver"])  # pool and solver: the schema's enums


@dataclass(frozen=True)
class Convergence:
    """Settings of the convergence control (config ``simulation.convergence``; defaults: the schema's).

    target_rms: largest accepted RMS change of the disc [intensity per unit incident beam].
    growth: factor applied to the pool and the strong-beam count per step (> 1).
    max_strong_beams: the strong-beam count is never raised above this.
    check_fraction: fraction of the independent pixels used for the check (0 < f ≤ 1).
    """

    target_rms: float = _CONVERGENCE["target_rms"]
    growth: float = _CONVERGENCE["growth"]
    max_strong_beams: int = _CONVERGENCE["max_strong_beams"]
    check_fraction: float = _CONVERGENCE["check_fraction"]

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> Convergence | None:
        """From ``simulation.convergence`` (None: no convergence control)."""
        if section is None:
            return None
        out = replace(cls(), **section)
        if out.growth <= 1.0:
            raise ConfigError(f"expected a factor > 1, got {out.growth}", field="simulation.convergence.growth")
        return out


# ----- felix.inp layout ---------------------------------------------------------------------
# (Felix name, field name) in file order; None marks a literal line (comment or blank).
_LAYOUT: list[tuple[str, str | None]] = [
    ("# Input file for Felix (layout of master 9034b2a)", None),
    ("# ------------------------------------", None),
    ("", None),
    ("# ------------------------------------", None),
    ("", None),
    ("# control flags", None),
    ("IWriteFLAG", "write_flag"),
    ("IScatterFactorMethodFLAG", "scatter_factor_method_flag"),
    ("IHolzFLAG", "holz_flag"),
    ("IAbsorbFLAG", "absorb_flag"),
    ("IByteSize", "byte_size"),
    ("", None),
    ("# radius of the beam in pixels", None),
    ("IPixelCount", "pixel_count"),
    ("", None),
    ("# beam selection criteria", None),
    ("IMinReflectionPool", "min_reflection_pool"),
    ("IMinStrongBeams", "min_strong_beams"),
    ("IMinWeakBeams", "min_weak_beams"),
    ("RgLimit", "g_limit"),
    ("", None),
    ("# crystal settings", None),
    ("RDebyeWallerConstant", "debye_waller_constant"),
    ("RAbsorptionPer", "absorption_per"),
    ("", None),
    ("# microscope settings", None),
    ("ROuterConvergenceAngle", "outer_convergence_angle"),
    ("IIncidentBeamDirection", "incident_beam_direction"),
    ("IXDirection", "x_direction"),
    ("INormalDirection", "normal_direction"),
    ("RAcceleratingVoltage (kV)", "accelerating_voltage"),
    ("RAcceptanceAngle", "acceptance_angle"),
    ("", None),
    ("# Image Output Options", None),
    ("RInitialThickness", "initial_thickness"),
    ("RFinalThickness", "final_thickness"),
    ("RDeltaThickness", "delta_thickness"),
    ("RPrecision", "precision"),
    ("", None),
    ("#Refinement Specific Flags", None),
    ("IRefineModeFLAG", "refine_mode_flag"),
    ("IWeightingFLAG", "weighting_flag"),
    ("IRefineMethodFLAG", "refine_method_flag"),
    ("ICorrelationFLAG", "correlation_flag"),
    ("IImageProcessingFLAG", "image_processing_flag"),
    ("RBlurRadius", "blur_radius"),
    ("INoofUgs", "noof_ugs"),
    ("IAtomicSites", "atomic_sites"),
    ("IPrint", "print_flag"),
    ("RSimplexLengthScale", "simplex_length_scale"),
    ("RExitCriteria", "exit_criteria"),
]

#: field name → Felix key name
FELIX_NAMES: dict[str, str] = {fname: key.split(" ")[0] for key, fname in _LAYOUT if fname}
#: config.yaml key → Felix key (the config uses the field names)
CONFIG_KEYS: dict[str, str] = dict(FELIX_NAMES)
VALUE_COLUMN = 28  # 1-based column where Felix reads the value


def pixel_count_range() -> tuple[int, int]:
    """The disc radii [px] accepted, from the config schema (the one place the bound is written),
    for a config and for a felix.inp read by the drop-in alike."""
    from ..config import load_schema

    spec = load_schema()["properties"]["simulation"]["properties"]["pixel_count"]
    return int(spec["minimum"]), int(spec["maximum"])


def nint(x: float) -> int:
    """Fortran NINT: round half away from zero (Felix's rounding of thicknesses and index bounds)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def __getattr__(name: str) -> Any:
    """``FelixSettings``: the old name of :class:`LacbedSettings` (it configures the builtin
    simulator and the EDD projection too), kept for scripts written against it."""
    if name == "FelixSettings":
        import warnings

        warnings.warn("FelixSettings is now LacbedSettings", DeprecationWarning, stacklevel=2)
        return LacbedSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
