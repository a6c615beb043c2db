"""EDD stage: electron density projected along the beam, as images on the LACBED grid (docs/architecture.md §5)."""

__all__ = ["project_density", "write_edd"]


def __getattr__(name: str):  # lazy: `lacbed-bridge --help` must not import gemmi or numpy
    if name == "write_edd":
        from .images import write_edd

        return write_edd
    if name == "project_density":
        from .projection import project_density

        return project_density
    raise AttributeError(name)
