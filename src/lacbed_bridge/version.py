"""The installed package's version (``lacbed_bridge.__version__``), recorded in every file the stages
write. Its own module, so that a stage reading it does not import the package's lazy API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lacbed-bridge")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
