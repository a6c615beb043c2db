"""Crystals: CIF reading/writing (gemmi), prototypes, variant families, the charge model, and the physics every
image shares: the microscope frame (orientation.py), the form factors (form_factors/) and the structure-factor sum."""

__all__ = ["Crystal", "Site"]


def __getattr__(name: str):  # lazy: `lacbed-bridge --help` must not import gemmi
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(name)
