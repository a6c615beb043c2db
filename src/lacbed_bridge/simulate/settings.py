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
from typing import Any

from ..errors import InputError

Vector = tuple[int, int, int]

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
class BeamGeometry:
    """The directions that fix the microscope frame: the beam [uvw] (direct lattice), the image x
    axis (hkl, reciprocal lattice) and the specimen's surface normal [uvw] (Felix's
    IIncidentBeamDirection, IXDirection, INormalDirection)."""

    incident_beam_direction: Vector
    x_direction: Vector
    normal_direction: Vector


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
    """The LACBED experiment and its beams: every felix.inp key (simulation mode). Defaults are
    Felix's reference case (GaAs [-110], 200 kV, Bird–King), used for a felix.inp that leaves a key
    out; a config's absent keys take the schema's defaults (:meth:`from_config`)."""

    write_flag: int = 1
    scatter_factor_method_flag: int = 0
    holz_flag: int = 0
    absorb_flag: int = 2
    byte_size: int = 8
    pixel_count: int = 32
    min_reflection_pool: int = 200
    min_strong_beams: int = 50
    min_weak_beams: int = 0
    g_limit: float = 0.0
    debye_waller_constant: float = 0.0
    absorption_per: float = 7.8
    outer_convergence_angle: float = 3.03
    incident_beam_direction: Vector = (-1, 1, 0)
    x_direction: Vector = (1, 1, 0)
    normal_direction: Vector = (-1, 1, 0)
    accelerating_voltage: float = 200.0
    acceptance_angle: float = 0.0
    initial_thickness: float = 930.0
    final_thickness: float = 930.0
    delta_thickness: float = 10.0
    precision: float = 2e-05
    refine_mode_flag: str = "S"
    weighting_flag: int = 0
    refine_method_flag: int = 3
    correlation_flag: int = 2
    image_processing_flag: int = 4
    blur_radius: float = 0.0
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
