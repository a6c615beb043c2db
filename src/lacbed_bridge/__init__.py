"""lacbed-bridge: crystal families, LACBED (000)-disc simulation, EDD images and a pix2pix surrogate.

Units used throughout the package (see docs/conventions.md):
lengths in ångström [Å], reciprocal lengths in [1/Å] (with or without 2π as each docstring says),
accelerating voltage in [kV], thickness in [Å], angles in degrees at file boundaries,
charges in electrons [e].
"""

from .version import __version__

#: the Python API for notebooks (``lacbed_bridge.api``, docs/api.md), re-exported here lazily: the
#: first use of a name imports the API module, and the stage modules (torch, gemmi) load only when a
#: function needs them, so ``import lacbed_bridge`` stays light
_API_NAMES = (
    "ChargeEstimate", "DensityImage", "Disc", "FitWarning", "Refinement", "SurrogateImage",
    "add_noise", "estimate_charge", "load_config", "make_config", "predict", "predict_image", "project_edd",
    "prototype_crystal", "read_crystal", "read_disc", "refine_disc", "simulate_disc", "with_charge", "write_crystal",
)

__all__ = ["__version__", *_API_NAMES]


def __getattr__(name: str):
    if name in _API_NAMES or name == "api":
        import importlib

        api = importlib.import_module(f"{__name__}.api")  # not `from . import api`: that asks this hook again
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API_NAMES})
