"""Crystals: CIF reading/writing (gemmi), prototypes, variant families and the charge model."""

from .model import Crystal, Site

__all__ = ["Crystal", "Site"]
