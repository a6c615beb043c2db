"""figures stage: the paper figures (a)–(e) from ``results/`` (see :mod:`.make`)."""

from .make import make_figure, make_figures

__all__ = ["make_figure", "make_figures"]
