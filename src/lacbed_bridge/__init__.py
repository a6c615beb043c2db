"""lacbed-bridge: crystal families, LACBED (000)-disc simulation, EDD images and a pix2pix surrogate.

Units used throughout the package (see docs/conventions.md):
lengths in ångström [Å], reciprocal lengths in [1/Å] (with or without 2π as each docstring says),
accelerating voltage in [kV], thickness in [Å], angles in degrees at file boundaries,
charges in electrons [e].
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lacbed-bridge")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
