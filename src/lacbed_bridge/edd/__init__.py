"""EDD stage: electron density projected along the beam, as images on the LACBED grid (DESIGN §5)."""

from .images import write_edd
from .projection import project_density

__all__ = ["project_density", "write_edd"]
