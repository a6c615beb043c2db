"""Crystals: CIF reading/writing (gemmi), prototypes, variant families and the charge model."""

__all__ = ["Crystal", "Site"]


def __getattr__(name: str):  # lazy: `lacbed-bridge --help` must not import gemmi
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(name)
