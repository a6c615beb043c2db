"""figures stage: the paper figures (a)–(e) from ``results/`` (see :mod:`.make`)."""

#: The figure names the workflow expects (results/figures/<name>.png and .pdf).
from ..layout import FIGURE_NAMES

__all__ = ["FIGURE_NAMES", "make_figure", "make_figures"]


def __getattr__(name: str):  # lazy: `lacbed-bridge --help` must not import matplotlib
    if name in ("make_figure", "make_figures"):
        from . import make

        return getattr(make, name)
    raise AttributeError(name)
