"""The Python API for notebooks: crystals, (000) discs, EDD images, surrogate predictions, refinement.

Each function here is a thin in-memory wrapper around the function the command line calls for the
same stage — no physics is written twice:

- :func:`read_crystal`, :func:`write_crystal`: ``crystal.cif.read_cif``, ``write_cif`` (every command's CIF);
- :func:`prototype_crystal`, :func:`with_charge`: ``Prototype.crystal`` and ``variants.transfer_charges`` (``variants``);
- :func:`simulate_disc`: ``simulate.run.simulate_sample`` (``simulate CIF --config C``);
- :func:`add_noise`: ``refine.fit.poisson_disc`` (``noisy``);
- :func:`project_edd`: ``edd.images.edd_image`` (``edd CIF --config C [--deformation D]``);
- :func:`predict_image`: ``surrogate.predict.load_model``, ``predict_arrays`` (``predict`` with an image model);
- :func:`estimate_charge`: ``surrogate.estimator.load_estimator``, ``Estimator.estimate`` (``predict`` with a
  charge estimator); :func:`predict` chooses between the two as ``predict`` does;
- :func:`refine_disc`: ``refine.run.fit_crystal`` (``refine CIF DISC --config C --free ...``).

Results are numpy arrays with their metadata, one small frozen dataclass per kind of result
(:class:`Disc`, :class:`DensityImage`, :class:`SurrogateImage`, :class:`ChargeEstimate`,
:class:`Refinement`); their arrays are read-only. Images are in physical units, never normalised:
a disc in intensity per unit incident beam, a density in e/Å². Image orientation as every file of
the package (docs/conventions.md, "Image orientation"): ``image[r, c]``, column c along the config's
``x_direction``, row r along ẑ × x̂ with ẑ the beam; draw with ``origin="lower"`` and the
``extent`` of the result so that +k_y (+y) points up.

Units: lengths and thickness [Å]; reciprocal lengths [1/Å] (k and Δk of a disc with the 2π,
``outer_convergence_angle`` without it, as Felix); voltage [kV]; charge transfer δ [e per formula
unit, cation → anion]; P_v [e]; U_iso [Å²]; densities [e/Å²].

A config is the same YAML mapping the command line takes (``load_config(path)``; every key is in
``schemas/config.schema.yaml``), or one made here with :func:`make_config`. Importing this module
is light: torch, gemmi and the stages load when a function first needs them.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the annotations: the stages are imported where they are used
    import numpy as np

    from .crystal.model import Crystal
    from .simulate.settings import LacbedSettings

__all__ = [
    "ChargeEstimate", "DensityImage", "Disc", "FitWarning", "Refinement", "SurrogateImage",
    "add_noise", "estimate_charge", "load_config", "make_config", "predict", "predict_image", "project_edd",
    "prototype_crystal", "read_crystal", "read_disc", "refine_disc", "simulate_disc", "with_charge", "write_crystal",
]

PathLike = str | os.PathLike[str]
ConfigLike = Mapping[str, Any] | PathLike


def _frozen(array: Any, dtype: Any = None) -> np.ndarray:
    """A read-only copy of ``array`` (the results are frozen: their pixels too)."""
    import numpy as np

    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _extent(side: int, step: float) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of a side × side image of pixel size ``step`` centred on 0, for
    ``imshow(..., origin="lower", extent=...)``."""
    half = side * step / 2
    return (-half, half, -half, half)


# ----- configs and crystals ----------------------------------------------------------------------

#: the keys the schema requires besides ``simulation`` and ``edd``; ``make_config`` fills them with
#: a placeholder family, which the in-memory API never reads (only the workflow's variants do)
_MINIMAL_CONFIG: dict[str, Any] = {
    "seed": 0,
    "output": {"results": "results"},
    "families": [{"name": "notebook", "prototype": "zincblende", "n_variants": 1}],
    "simulation": {"backend": "builtin"},
    "edd": {},
}


#: the keys of the microscope frame, which ``make_config`` writes out (Felix's reference values
#: when not given) so that the disc and the EDD images share them
_FRAME_KEYS = ("incident_beam_direction", "x_direction", "normal_direction")


def load_config(path: PathLike) -> dict[str, Any]:
    """Read and validate a config YAML (``lacbed_bridge.config.load_config``, as every command):
    returns the mapping with the schema's defaults filled in; a bad key raises ``ConfigError``."""
    from .config import load_config as load

    return load(path)


def make_config(simulation: Mapping[str, Any] | None = None, edd: Mapping[str, Any] | None = None, *,
                base: ConfigLike | None = None) -> dict[str, Any]:
    """A validated config: ``base`` (a config file or mapping; default a minimal one whose
    simulation and EDD settings are the schema's defaults, and Felix's reference values for the
    felix.inp keys: GaAs-like, beam [-110], x (110), 200 kV, 930 Å) with the keys of ``simulation`` and
    ``edd`` laid over its sections, e.g.
    ``make_config({"pixel_count": 8, "convergence": None, "device": "cpu"})``.

    Simulation keys are Felix's felix.inp names in snake_case (docs/conventions.md): among them
    ``accelerating_voltage`` [kV], ``incident_beam_direction`` [uvw], ``x_direction`` (hkl),
    ``pixel_count`` N (the image side is 2N), ``outer_convergence_angle`` (the disc radius
    [1/Å, no 2π]), ``initial_thickness``/``final_thickness``/``delta_thickness`` [Å],
    ``thickness_index``, ``min_reflection_pool``/``min_strong_beams``, ``absorption_per`` [%],
    ``debye_waller_constant`` [Å²], ``convergence`` (None: the beams as given, no control). The
    schema's defaults converge the beams to RMS 0.005, which takes seconds to minutes per disc."""
    from .config import validate_config

    if base is not None:
        config = copy.deepcopy(dict(_config(base, validate=False)))
    else:
        from .simulate.settings import LacbedSettings

        config = copy.deepcopy(_MINIMAL_CONFIG)
        reference = LacbedSettings().to_config()  # the microscope frame, which the EDD images need too
        config["simulation"].update({key: reference[key] for key in _FRAME_KEYS})
    for name, values in (("simulation", simulation), ("edd", edd)):
        if values:
            config[name] = {**(config.get(name) or {}), **copy.deepcopy(dict(values))}
    return validate_config(config)


def _config(config: ConfigLike, *, validate: bool = True) -> dict[str, Any]:
    """A config from a path (loaded and validated) or a mapping (validated: schema defaults filled in)."""
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    if not validate:
        return dict(config)
    from .config import validate_config

    return validate_config(dict(config))


def read_crystal(path: PathLike) -> Crystal:
    """Read a CIF (gemmi's parser, as every command): cell [Å, °], symmetry, sites with U_iso [Å²]
    and, where the CIF has them, the Hansen–Coppens ``_atom_site_pv`` [e] and ``_atom_site_kappa``."""
    from .crystal.cif import read_cif

    return read_cif(path)


def write_crystal(crystal: Crystal, path: PathLike) -> None:
    """Write a crystal as CIF (atomically; P_v and κ as ``_atom_site_pv``, ``_atom_site_kappa``), the
    file every command reads."""
    from .crystal.cif import write_cif

    write_cif(crystal, path)


def with_charge(crystal: Crystal, delta: float, roles: Mapping[str, str], *,
                kappa: float | Mapping[str, float] | None = None) -> Crystal:
    """The crystal with a charge transfer of δ [e per formula unit] from its cation to its anion
    sites, by the rule the variant families use (``crystal.variants.transfer_charges``;
    docs/architecture.md §3): T = δ·Z_f electrons per cell (Z_f formula units) leave the cations and
    reach the anions, shared equally per atom and capped by each atom's valence (cation) or open
    shell (anion). For GaAs, P_v(Ga) = 3 − δ and P_v(As) = 5 + δ. δ is measured from the neutral
    atoms, whatever P_v the crystal had.

    ``roles``: ``cation``, ``anion`` or ``neutral`` per site label or element (``{"Ga": "cation",
    "As": "anion"}``; others neutral). ``kappa``: the valence-shell expansion κ, one value or per
    label/element (default: each site's own)."""
    import math

    from .crystal.charge import neutral_valence
    from .crystal.variants import transfer_charges

    role = [roles.get(s.label, roles.get(s.element, "neutral")) for s in crystal.sites]
    multiplicities = crystal.site_multiplicities()
    charges, _ = transfer_charges(role, [s.element for s in crystal.sites], multiplicities, float(delta),
                                  math.gcd(*multiplicities))

    def kappa_of(site: Any) -> float:
        if kappa is None:
            return site.kappa
        if isinstance(kappa, Mapping):
            return float(kappa.get(site.label, kappa.get(site.element, site.kappa)))
        return float(kappa)

    sites = tuple(replace(s, pv=round(neutral_valence(s.element) - q, 10), kappa=kappa_of(s))
                  for s, q in zip(crystal.sites, charges, strict=True))
    return crystal.with_sites(sites)


def prototype_crystal(prototype: str = "zincblende", elements: Mapping[str, str] | None = None, *,
                      a: float | None = None, delta: float = 0.0, kappa: float | Mapping[str, float] | None = None,
                      u_iso: float | Mapping[str, float] | None = None, name: str | None = None) -> Crystal:
    """A crystal of one of the package's prototypes (``crystal/data/prototypes.yaml``: zincblende,
    rocksalt, fluorite, perovskite, wurtzite, rutile, ...) as the ``variants`` command builds them.

    ``elements``: element per prototype site label (zincblende: ``{"A": "Ga", "B": "As"}``; default
    the first allowed element of each site); ``a``: lattice parameter [Å] (default the reference
    compound's, GaAs 5.65325 Å); ``delta``: charge transfer [e per formula unit] between the
    prototype's cation and anion sites (:func:`with_charge`); ``kappa``: valence κ, one value or per
    label; ``u_iso``: U_iso [Å²], one value or per label (0: the config's
    ``debye_waller_constant`` B is used, as in Felix)."""
    from .crystal.prototypes import load_prototype

    proto = load_prototype(prototype)
    labels = [s.label for s in proto.sites]
    u = {label: float(u_iso) for label in labels} if isinstance(u_iso, (int, float)) else dict(u_iso or {})
    crystal = proto.crystal(dict(elements or {}), a=a, name=name, u_iso=u)
    return with_charge(crystal, delta, {s.label: s.role for s in proto.sites}, kappa=kappa)


# ----- the (000) disc ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Disc:
    """A (000) LACBED disc and how it was made.

    image: side × side [float64], intensity per unit incident beam (raw: never clipped or masked);
    ``image[r, c]`` at k_x = (c − N + ½)·Δk, k_y = (r − N + ½)·Δk, N = side/2.
    thickness: the specimen thickness of ``image`` [Å]; thicknesses: the simulated series [Å] and
    series: its discs (n_t × side × side; None for a disc read from a file).
    voltage: accelerating voltage [kV]. pixel_size: Δk = 2π·outer_convergence_angle/N [1/Å, with 2π].
    outer_convergence_angle: the disc radius [1/Å, without 2π] (Felix's name).
    beam_direction [uvw], x_direction (hkl), normal_direction [uvw]: the microscope frame.
    backend: ``builtin`` or ``felix``; seconds: wall time of the simulation [s].
    crystal_name: the crystal's name (sample id). settings: the felix.inp settings used (beams,
    absorption, geometry; None for a disc read from a file). metadata: exactly the JSON metadata
    ``lacbed-bridge simulate`` writes into its TIFF (:meth:`save` writes it).
    """

    image: np.ndarray = field(repr=False)
    thickness: float | None
    voltage: float
    pixel_size: float
    outer_convergence_angle: float
    beam_direction: tuple[int, ...]
    x_direction: tuple[int, ...]
    normal_direction: tuple[int, ...]
    backend: str
    seconds: float
    crystal_name: str
    metadata: dict[str, Any] = field(repr=False)
    settings: LacbedSettings | None = field(default=None, repr=False)
    thicknesses: tuple[float, ...] = ()
    series: np.ndarray | None = field(default=None, repr=False)
    units: str = "intensity per unit incident beam"

    @property
    def side(self) -> int:
        """Image side [px] = 2 × pixel_count."""
        return int(self.image.shape[-1])

    def k_axes(self) -> tuple[np.ndarray, np.ndarray]:
        """(k_x of the columns, k_y of the rows) at the pixel centres [1/Å, with 2π]."""
        import numpy as np

        k = (np.arange(self.side) - self.side / 2 + 0.5) * self.pixel_size
        return k, k.copy()

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """k_x, k_y limits of the image [1/Å, with 2π] for ``imshow(origin="lower", extent=...)``."""
        return _extent(self.side, self.pixel_size)

    def save(self, path: PathLike) -> None:
        """Write the disc as the float32 TIFF with JSON metadata that ``lacbed-bridge simulate``
        writes (atomically; ``lacbed_bridge.io.write_tiff``), for the command line and the workflow."""
        from .io import write_tiff

        write_tiff(path, self.image.astype("float32"), self.metadata)


def _disc_from_result(result: Any, thickness_index: int, name: str) -> Disc:
    """A :class:`Disc` of one thickness of a simulation (``simulate.result.LacbedResult``), with the
    metadata of its TIFF (``simulate.output.lacbed_metadata``)."""
    from .simulate.output import lacbed_metadata

    s = result.settings
    return Disc(image=_frozen(result.disc((0, 0, 0), thickness_index), float),
                thickness=float(result.thicknesses[thickness_index]), voltage=float(s.accelerating_voltage),
                pixel_size=2 * 3.141592653589793 * float(s.outer_convergence_angle) / int(s.pixel_count),
                outer_convergence_angle=float(s.outer_convergence_angle),
                beam_direction=tuple(s.incident_beam_direction), x_direction=tuple(s.x_direction),
                normal_direction=tuple(s.normal_direction), backend=result.backend, seconds=float(result.seconds),
                crystal_name=name, metadata=lacbed_metadata(result, sample_id=name, thickness_index=thickness_index),
                settings=s, thicknesses=tuple(float(t) for t in result.thicknesses),
                series=_frozen(result.discs[(0, 0, 0)], float))


def simulate_disc(crystal: Crystal, config: ConfigLike, *, family: str | None = None, backend: str | None = None,
                  device: str | None = None) -> Disc:
    """Simulate the (000) LACBED disc of ``crystal`` with the config's ``simulation`` settings —
    the same function as ``lacbed-bridge simulate CIF --config C`` (``simulate.run.simulate_sample``),
    so the image equals that command's TIFF (which is this float64 image rounded to float32).

    Physics: Bloch waves (Felix's): Kirkland scattering factors with the Hansen–Coppens charge term
    (P_v, κ of each site; docs/charge_model.md), Debye–Waller factors, absorption, per-pixel strong
    beams, ψ(t) = exp(iÃt)e₀₀₀; the disc is |ψ₀₀₀|² at the thickness ``simulation.thickness_index``
    of the series. ``family``: use that config family's geometry (``--family``); ``backend``
    (``builtin`` or ``felix``) and ``device`` (``cpu``, ``cuda``, ``auto``) override the config's."""
    from .simulate.run import simulate_sample, simulation_settings

    settings = simulation_settings(_config(config), family=family or None)
    result, index = simulate_sample(crystal, settings, backend=backend, device=device)
    return _disc_from_result(result, index, crystal.name)


def read_disc(path: PathLike) -> Disc:
    """A disc from a TIFF this package wrote (``simulate``, ``noisy``, :meth:`Disc.save`), its pixels
    checked against their recorded checksum; geometry, thickness and voltage from its metadata."""
    import math

    from .io import read_tiff

    image, meta = read_tiff(path)
    n = int(meta.get("pixel_count") or image.shape[-1] // 2)
    angle = float(meta.get("outer_convergence_angle", math.nan))
    return Disc(image=_frozen(image, float), thickness=meta.get("thickness_A"), voltage=float(meta.get("voltage_kv", math.nan)),
                pixel_size=2 * math.pi * angle / n, outer_convergence_angle=angle,
                beam_direction=tuple(meta.get("incident_beam_direction") or ()), x_direction=tuple(meta.get("x_direction") or ()),
                normal_direction=tuple(meta.get("normal_direction") or ()), backend=str(meta.get("backend", "")),
                seconds=float(meta.get("seconds", math.nan)), crystal_name=str(meta.get("sample_id", "")), metadata=meta,
                thicknesses=tuple(meta.get("thicknesses_A") or ()))


def add_noise(disc: Disc, counts: float, seed: int = 0) -> Disc:
    """A noisy observation of ``disc``: Poisson(N·I)/N with N = ``counts`` expected electrons per unit
    intensity, seeded (``refine.fit.poisson_disc``, as ``lacbed-bridge noisy``: same seed, same
    pixels). The metadata record the noise as that command does; ``series`` is dropped."""
    import math

    from .refine.fit import poisson_disc

    if not (counts > 0 and math.isfinite(counts)):
        from .errors import InputError

        raise InputError(f"expected a positive number of counts per unit intensity, got {counts}", field="counts")
    noisy = poisson_disc(disc.image.astype(float), float(counts), int(seed))
    meta = {**disc.metadata, "noise": {"kind": "Poisson", "counts_per_unit_intensity": float(counts), "seed": int(seed),
                                       "source": disc.crystal_name}}
    return replace(disc, image=_frozen(noisy, float), metadata=meta, series=None)


# ----- EDD and deformation density ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DensityImage:
    """A projected electron density image.

    image: side × side [float64], e/Å²: the density ρ projected along the beam over one lattice
    repeat, ``kind`` "edd" (total, ρ) or "deformation" (Δρ = ρ − ρ_IAM, minus the same crystal of
    neutral spherical atoms); the mean over each pixel (``edd.pixel_value: area``).
    pixel_size: [Å]; field_of_view: the side of the square [Å] (default the lattice parameter a),
    centred on the crystal's origin; ``image[r, c]`` at x = (c + ½ − side/2)·pixel_size along the
    x direction. metadata: exactly what ``lacbed-bridge edd`` writes into its TIFF (s_max [1/Å],
    edge_amplitude, f000 [e], electrons_in_view [e], ...).
    """

    image: np.ndarray = field(repr=False)
    kind: str
    pixel_size: float
    field_of_view: float
    beam_direction: tuple[int, ...]
    x_direction: tuple[int, ...]
    crystal_name: str
    metadata: dict[str, Any] = field(repr=False)
    units: str = "e/Å²"

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """x, y limits of the image [Å] for ``imshow(origin="lower", extent=...)``."""
        return _extent(int(self.image.shape[-1]), self.pixel_size)

    @property
    def electrons(self) -> float:
        """Electrons the image holds, Σ pixels × pixel_size² [e] (Δρ: the net charge moved into the view)."""
        return float(self.image.sum() * self.pixel_size**2)

    def save(self, path: PathLike) -> None:
        """Write the image as ``lacbed-bridge edd`` does (float32 TIFF, JSON metadata, atomically)."""
        from .io import write_tiff

        write_tiff(path, self.image.astype("float32"), self.metadata)


def project_edd(crystal: Crystal, config: ConfigLike, kind: str = "edd", *, family: str | None = None) -> DensityImage:
    """The projected electron density [e/Å²] (``kind="edd"``) or deformation density Δρ = ρ − ρ_IAM
    (``kind="deformation"``) of ``crystal`` on the disc's grid (side = 2 × simulation.pixel_count),
    with the config's ``edd`` settings — the function ``lacbed-bridge edd CIF --config C
    [--deformation D]`` calls (``edd.images.edd_image``), so the image equals its TIFF to float32.

    Physics: ρ_p(r⊥) = (1/A) Σ_{g·t=0} F(g) exp(−2πi g·r⊥), the zero-order-Laue-zone X-ray structure
    factors of the Hansen–Coppens model F(g) = Σ occ·f_x(s; P_v, κ)·exp(−B s²)·exp(2πi h·x), A the
    projected cell area [Å²] (docs/architecture.md §5). ``family``: that config family's geometry."""
    from .edd.images import edd_image
    from .edd.settings import edd_settings

    image, meta = edd_image(crystal, edd_settings(_config(config), family=family or None), kind)
    return DensityImage(image=_frozen(image, float), kind=kind, pixel_size=float(meta["pixel_size"]),
                        field_of_view=float(meta["field_of_view"]), beam_direction=tuple(meta["beam_direction"]),
                        x_direction=tuple(meta["x_direction"]), crystal_name=crystal.name, metadata=meta)


# ----- surrogates --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SurrogateImage:
    """A surrogate's prediction, in the physical units of its target kind.

    image: side × side (one target kind) or C × side × side (kinds in ``kinds`` order), float32:
    a LACBED disc in intensity per unit incident beam (``edd2lacbed``), or an EDD / deformation
    density in e/Å² (``lacbed2edd``). direction: the model's direction; model: its checkpoint;
    units per kind; warning: set when the input lay far outside the training data's range (an
    extrapolation); metadata: what ``lacbed-bridge predict`` writes into its TIFF.
    """

    image: np.ndarray = field(repr=False)
    kinds: tuple[str, ...]
    direction: str
    model: str
    units: dict[str, str]
    metadata: dict[str, Any] = field(repr=False)
    warning: str | None = None

    def save(self, path: PathLike) -> None:
        """Write the prediction as ``lacbed-bridge predict`` does (float32 TIFF, JSON metadata)."""
        from .io import write_tiff

        write_tiff(path, self.image, self.metadata)


#: units of each image kind
_KIND_UNITS = {"lacbed": "intensity per unit incident beam", "edd": "e/Å²", "deformation": "e/Å²"}


def _model_input(source: Any, desc: Mapping[str, Any], config: ConfigLike | None) -> tuple[np.ndarray, str]:
    """(input image in physical units, its name) for an image model from an array, a Disc, a
    DensityImage, a sequence of DensityImages (one per input kind) or a Crystal (``edd2lacbed``)."""
    import numpy as np

    from .crystal.model import Crystal
    from .errors import InputError
    from .surrogate.predict import edd_input, model_kinds

    inputs, _ = model_kinds(desc)
    if isinstance(source, Crystal):
        if desc["input_kind"] == "lacbed":
            raise InputError(f"a crystal gives an EDD image, but this model's input is {desc['input_kind']}", field="source")
        if config is None:
            raise InputError("a crystal input needs a config (beam direction, x direction, field of view of the EDD image)",
                             field="config")
        from .edd.settings import edd_settings

        return edd_input(source, edd_settings(_config(config)), int(desc["side"]), inputs), source.name
    given: list[tuple[str, Any]]
    if isinstance(source, Disc):
        given = [("lacbed", source)]
    elif isinstance(source, DensityImage):
        given = [(source.kind, source)]
    elif isinstance(source, Sequence) and source and all(isinstance(s, DensityImage) for s in source):
        given = [(s.kind, s) for s in source]
    else:
        return np.asarray(source, dtype=np.float32), "array"
    kinds = [kind for kind, _ in given]
    if kinds != inputs:
        raise InputError(f"image kind(s) {kinds}, but this model ({desc['direction']}) takes {inputs}", field="kind")
    planes = [np.asarray(item.image, dtype=np.float32) for _, item in given]
    return (planes[0] if len(planes) == 1 else np.stack(planes)), given[0][1].crystal_name


def predict_image(model: PathLike, source: Any, config: ConfigLike | None = None, *, device: str = "cpu") -> SurrogateImage:
    """Predict with a trained image surrogate (pix2pix or U-Net; ``lacbed-bridge train``): the same
    steps as ``lacbed-bridge predict MODEL INPUT`` (``surrogate.predict.load_model``,
    ``range_warning``, ``predict_arrays``), so the image equals its TIFF.

    ``model``: the checkpoint (``model.pt`` or its folder). ``source`` in physical units: for an
    ``edd2lacbed`` model a :class:`DensityImage` (or one per input kind, e.g. [edd, deformation]),
    or a ``Crystal`` whose EDD images are made with ``config``'s EDD settings; for ``lacbed2edd`` a
    :class:`Disc`; or a numpy array (side × side, or C × side × side). The checkpoint's dataset
    normalisation maps it onto the [0, 1] the network saw and the output back to physical units."""
    import time

    import numpy as np

    from .version import __version__
    from .errors import InputError
    from .surrogate.predict import check_input_shape, load_model, model_kinds, predict_arrays, range_warning

    net, desc = load_model(model, device)
    image, name = _model_input(source, desc, config)
    check_input_shape(image.shape, desc)
    if not np.all(np.isfinite(image)):
        raise InputError(f"{int(np.size(image) - np.isfinite(image).sum())} non-finite value(s) (NaN or inf) in the image",
                         field="source")
    note = range_warning(image, desc)
    if note:
        warnings.warn(note, stacklevel=2)
    start = time.perf_counter()
    pred = predict_arrays(net, [image], desc)[0]
    _, targets = model_kinds(desc)
    meta = {"sample_id": name, "kind": desc["target_kind"], **({"kinds": targets} if len(targets) > 1 else {}),
            "backend": "surrogate", "direction": desc["direction"], "model": str(desc["checkpoint"]),
            "dataset_hash": desc["dataset_hash"], "source": name, "seconds": time.perf_counter() - start,
            "package_version": __version__, **({"warning": note} if note else {})}
    return SurrogateImage(image=_frozen(pred), kinds=tuple(targets), direction=str(desc["direction"]),
                          model=str(desc["checkpoint"]), units={k: _KIND_UNITS.get(k, "") for k in targets},
                          metadata=meta, warning=note)


@dataclass(frozen=True, eq=False)
class ChargeEstimate:
    """What a charge estimator reads from one disc: per parameter the posterior mean and its
    calibrated standard deviation σ (a Gaussian; docs/surrogate.md §6).

    values, sigma: ``delta`` [e per formula unit, cation → anion] and, where the estimator was
    trained on it, ``thickness`` [Å]; units per parameter; training_range: the (low, high) of each
    parameter in the training data (outside it the estimate extrapolates); model: the checkpoint.
    """

    values: dict[str, float]
    sigma: dict[str, float]
    units: dict[str, str]
    training_range: dict[str, tuple[float, float]]
    model: str

    @property
    def delta(self) -> float:
        """δ [e per formula unit]."""
        return self.values["delta"]

    @property
    def delta_sigma(self) -> float:
        """σ of δ [e per formula unit]."""
        return self.sigma["delta"]

    def __str__(self) -> str:
        return ", ".join(f"{n} {v:.4g} ± {self.sigma[n]:.2g} {self.units.get(n, '')}".rstrip() for n, v in self.values.items())


def estimate_charge(model: PathLike, disc: Disc | np.ndarray | Sequence[Disc], *,
                    device: str = "cpu") -> ChargeEstimate | list[ChargeEstimate]:
    """Read δ (and the thickness) with a calibrated σ from a disc with a trained charge estimator
    (``lacbed-bridge train-estimator``) — the estimator ``lacbed-bridge predict ESTIMATOR DISC.tif``
    uses (``surrogate.estimator.load_estimator`` and ``Estimator.estimate``).

    ``disc``: a :class:`Disc` or a side × side array in any intensity units (each disc is
    standardised on its own, so a scale or a constant background does not change the estimate), or
    a list of them (then a list of estimates). The side must be the estimator's."""
    import numpy as np

    from .surrogate.estimator import UNITS, load_estimator

    estimator = load_estimator(model, device=device)
    many = isinstance(disc, (list, tuple)) or (not isinstance(disc, Disc) and np.ndim(disc) == 3)
    items = list(disc) if many else [disc]
    stack = np.stack([np.asarray(d.image if isinstance(d, Disc) else d, dtype=np.float64) for d in items])
    values = estimator.estimate(stack)
    ranges = {t: tuple(estimator.info["target_range"][t]) for t in estimator.targets}
    out = [ChargeEstimate(values={t: float(values[t][i]) for t in estimator.targets},
                          sigma={t: float(values[f"{t}_sigma"][i]) for t in estimator.targets},
                          units={t: UNITS[t] for t in estimator.targets}, training_range=ranges,
                          model=str(estimator.info.get("checkpoint"))) for i in range(len(items))]
    return out if many else out[0]


def predict(model: PathLike, source: Any, config: ConfigLike | None = None, *,
            device: str = "cpu") -> SurrogateImage | ChargeEstimate | list[ChargeEstimate]:
    """Whatever ``lacbed-bridge predict MODEL ...`` does with this checkpoint: a charge estimator
    gives :func:`estimate_charge` of the disc(s), an image model :func:`predict_image` of the input."""
    from .surrogate.checkpoint import load_checkpoint
    from .surrogate.estimator import is_estimator

    if is_estimator(load_checkpoint(model)):
        return estimate_charge(model, source, device=device)
    return predict_image(model, source, config, device=device)


# ----- refinement --------------------------------------------------------------------------------


class FitWarning(UserWarning):
    """What a refinement's report warns of (correlated or undetermined parameters, a parameter at its
    bound, no convergence, χ²/dof far above 1 with Poisson weights)."""


@dataclass(frozen=True, eq=False)
class Refinement:
    """A refinement of a crystal against one disc (Levenberg–Marquardt on exact Jacobians; docs/refine.md).

    values, sigma, start: per parameter (``delta`` [e], ``kappa:<label>``, ``u_iso:<label>`` [Å²],
    ``thickness`` [Å], the optics, and ``scale``, ``background`` of D ≈ s·I + b) the refined value,
    its standard uncertainty and the start; units per parameter; names: their order in
    ``correlation`` (the parameters' correlation matrix). chi2, dof, reduced_chi2: the misfit
    (Poisson-weighted with ``counts``, else unweighted least squares); converged, iterations,
    seconds. crystal: the refined crystal (P_v, κ, U_iso written into its sites). fitted: s·I + b
    and residual: D − fit (NaN where masked), side × side, in the disc's units. warnings: what the
    report warns of. report: exactly the report ``lacbed-bridge refine`` writes to report.json.
    """

    values: dict[str, float]
    sigma: dict[str, float]
    start: dict[str, float]
    units: dict[str, str]
    names: tuple[str, ...]
    correlation: np.ndarray
    chi2: float
    dof: int
    reduced_chi2: float
    converged: bool
    iterations: int
    seconds: float
    crystal: Crystal = field(repr=False)
    fitted: np.ndarray = field(repr=False)
    residual: np.ndarray = field(repr=False)
    warnings: tuple[str, ...] = ()
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        from .refine.fit import significant

        lines = [f"{n:16s} {significant(self.values[n], self.sigma[n]):>16s} {self.units.get(n, '')}".rstrip()
                 for n in self.names]
        lines.append(f"reduced χ² {self.reduced_chi2:.3f}, {self.iterations} iterations, {self.seconds:.1f} s")
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def refine_disc(crystal: Crystal, disc: Disc | np.ndarray, config: ConfigLike, free: str | Sequence[str] = "delta", *,
                counts: float | None = None, roles: Mapping[str, str] | None = None, mask: np.ndarray | None = None,
                family: str | None = None, fit_scale: bool = True, fit_background: bool = True, device: str = "cpu",
                max_iter: int = 60, optics: Mapping[str, float] | None = None, thickness_scan: bool = True,
                start: PathLike | None = None, verbose: bool = False) -> Refinement:
    """Refine ``crystal`` (the start) against ``disc`` — the fit of ``lacbed-bridge refine CIF DISC
    --config C --free ...`` (``refine.run.fit_crystal``), nothing written.

    Model: D ≈ s·I(θ) + b, I the builtin simulator's (000) disc written in torch, θ the free
    parameters: ``free`` any of ``delta`` (charge transfer [e per formula unit]: every cation atom
    loses Z_f/N_cation·δ, every anion gains Z_f/N_anion·δ), ``kappa`` (or ``kappa:<label>``,
    ``kappa:cation``), ``u_iso`` [Å²], ``thickness`` [Å], the detector optics ``centre``
    [px], ``rotation`` [°], ``k_scale``, ``blur`` [px]; as a comma-separated string or a list.
    The disc must be side × side of the config's simulation; a :class:`Disc` this package simulated
    brings its beams (its metadata), as a TIFF does to the command.

    ``counts``: expected counts per unit intensity (Poisson weights σ² = max(D, 1/N)/N, and then σ
    are standard uncertainties); without it unweighted least squares. ``roles``: cation / anion per
    site label or element for δ (``{"Ga": "cation", "As": "anion"}``; default the config family of
    the crystal's name, as ``--roles``); ``mask``: pixels used (True); ``optics``: start (or fixed)
    values of ``centre_x``, ``centre_y``, ``rotation``, ``k_scale``, ``blur``; ``start``: a charge
    estimator's checkpoint whose reading of the disc starts δ (and a free thickness);
    ``verbose``: print each iteration (stderr). The report's warnings are also issued as
    :class:`FitWarning`."""
    import numpy as np

    from .refine.run import fit_crystal

    config = _config(config)
    free_text = free if isinstance(free, str) else ",".join(free)
    roles_text = ",".join(f"{k}={v}" for k, v in roles.items()) if roles else None
    start_text = None
    if start is not None:
        start_text = str(start) if str(start).startswith("surrogate:") else f"surrogate:{start}"
    image = disc.image if isinstance(disc, Disc) else disc
    meta = disc.metadata if isinstance(disc, Disc) else {}
    fit = fit_crystal(crystal, np.asarray(image, dtype=float), config, free_text, disc_meta=meta,
                      mask=None if mask is None else np.asarray(mask, dtype=bool), family=family, roles_text=roles_text,
                      counts=counts, fit_scale=fit_scale, fit_background=fit_background, device=device, max_iter=max_iter,
                      quiet=not verbose, geometry=dict(optics) if optics else None, thickness_scan=thickness_scan,
                      start=start_text, cif_label=None, disc_label=None)
    for line in fit.warnings:
        warnings.warn(line, FitWarning, stacklevel=2)
    params = fit.report["parameters"]
    names = tuple(params)
    return Refinement(values={n: float(p["value"]) for n, p in params.items()},
                      sigma={n: float(p["sigma"]) for n, p in params.items()},
                      start={n: float(p["start"]) for n, p in params.items()},
                      units={n: str(p["unit"]) for n, p in params.items()}, names=names,
                      correlation=_frozen(fit.result.correlation, float), chi2=float(fit.report["chi2"]),
                      dof=int(fit.report["dof"]), reduced_chi2=float(fit.report["reduced_chi2"]),
                      converged=bool(fit.report["converged"]), iterations=int(fit.report["iterations"]),
                      seconds=float(fit.report["seconds"]), crystal=fit.refined,
                      fitted=_frozen(fit.result.fitted, float), residual=_frozen(fit.result.residual, float),
                      warnings=tuple(fit.warnings), report=fit.report)
