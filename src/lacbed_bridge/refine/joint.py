"""Several discs of one crystal fitted at once: shared structure, each disc its own experiment.

One (000) disc at one thickness barely separates the charge transfer δ from the valence expansion
κ (docs/refine.md, correlation −0.99 on a spinel). Discs taken at other thicknesses, along other
zone axes or at other voltages see the same structure factors through different dynamical
mixing, so fitted together they separate what one cannot — as Felix fits every disc of its
``felix.hkl`` against the experiment at once. The joint model for discs D_i:

    D_i ≈ s_i · I_i(θ_shared, θ_i) + b_i

with θ_shared the structure (δ, κ, U_iso: one value for all discs) and θ_i each disc's own
thickness and detector optics (centre, rotation, k-scale, blur; named ``thickness@i``,
``centre_x@i`` … with i from 1 in the order given), its own intensity scale s_i and background
b_i (``scale@i``, ``background@i``).

Discs of one pattern — the (000) and ±g discs of one LACBED exposure, as Felix's ``felix.hkl``
lists them — come from one specimen region under one detector: they share the thickness,
rotation, k-scale and blur (named ``thickness@P`` … for the pattern P), while each keeps its own
centre (each disc is cut from the frame on its own), scale and background.

χ² is the sum over the discs' pixels, each weighted by its own noise; the Jacobian's columns
are each disc's exact columns (:meth:`.model.DiscModel.jacobian`) placed where its parameters
sit. The model presents the interface :func:`.fit.fit_disc` fits:
the discs' used pixels side by side as one row.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from ..errors import InputError
from .linear import linear_scale_background
from .model import DiscModel

#: parameters a disc has of its own in a joint fit (the rest, the structure, is shared)
PER_DISC = ("thickness", "centre_x", "centre_y", "rotation", "k_scale", "blur")
#: of those, the ones the discs of one pattern share (one exposure: one thickness, one detector)
PER_PATTERN = ("thickness", "rotation", "k_scale", "blur")


def own_name(name: str, disc: int) -> str:
    """``thickness`` of disc ``disc`` (0-based) → ``thickness@1`` (the reports count from 1)."""
    return f"{name}@{disc + 1}"


def check_pattern_name(name: str) -> str:
    """A pattern's name as it appears in parameter names (``thickness@NAME``): letters, digits,
    ``-``, ``_`` or ``.``, not only digits (those are the discs' numbers)."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or name.isdigit():
        raise InputError(f"expected a pattern name of letters, digits, '-', '_' or '.' (not only digits), got {name!r}",
                         field="pattern")
    return name


class JointModel:
    """The discs of :class:`DiscModel` ``models`` (one per disc, the same crystal and free
    parameters) as one model of shape (1, Σ side_i²) (module docstring). ``patterns``: for each
    disc the name of the pattern it belongs to, or None (a pattern of its own); the discs of one
    pattern share its :data:`PER_PATTERN` parameters."""

    def __init__(self, models: list[DiscModel], patterns: list[str | None] | None = None) -> None:
        if len(models) < 2:
            raise InputError("a joint fit needs at least two discs", field="disc")
        free = models[0].free
        for i, m in enumerate(models[1:], start=2):
            if m.free != free:
                raise InputError(f"disc {i} has other free parameters ({m.free}) than disc 1 ({free})", field="--free")
        self.models = models
        self.patterns = [None if p is None else check_pattern_name(p) for p in (patterns or [None] * len(models))]
        if len(self.patterns) != len(models):
            raise InputError(f"{len(self.patterns)} pattern names for {len(models)} discs", field="pattern")
        self.shared = [n for n in free if n not in PER_DISC]
        self.free: list[str] = list(self.shared)
        for i, m in enumerate(models):
            own = [self.name_of(n, i) for n in m.free if n in PER_DISC]
            self.free += [n for n in own if n not in self.free] + [own_name("scale", i), own_name("background", i)]
        self.index = [[self.free.index(self.name_of(n, i)) for n in m.free] for i, m in enumerate(models)]
        self.scale_index = [self.free.index(own_name("scale", i)) for i in range(len(models))]
        self.background_index = [self.free.index(own_name("background", i)) for i in range(len(models))]
        self.sizes = [m.side * m.side for m in models]
        self.shape = (1, sum(self.sizes))
        self.solver = models[0].solver
        start = torch.full((len(self.free),), math.nan, dtype=torch.float64)
        self.bounds: dict[str, tuple[float, float]] = {}
        for i, m in enumerate(models):
            for j, name in enumerate(m.free):
                k = self.index[i][j]
                if not math.isnan(start[k]) and abs(float(start[k]) - float(m.start[j])) > 1e-9 * max(1.0, abs(float(start[k]))):
                    raise InputError(f"the discs of pattern {self.patterns[i]!r} share {name}, but disc {i + 1} starts it at "
                                     f"{float(m.start[j]):.6g} and an earlier disc at {float(start[k]):.6g}", field=self.free[k])
                start[k] = m.start[j]
                if name in m.bounds:
                    self.bounds[self.free[self.index[i][j]]] = m.bounds[name]
            start[self.scale_index[i]], start[self.background_index[i]] = 1.0, 0.0
            self.bounds[own_name("scale", i)] = (-math.inf, math.inf)
            self.bounds[own_name("background", i)] = (-math.inf, math.inf)
        from .fit import BOUNDS

        for name in self.free:
            if name not in self.bounds:
                self.bounds[name] = BOUNDS[name.partition("@")[0].partition(":")[0]]
        self.start = start

    def name_of(self, name: str, i: int) -> str:
        """The joint parameter that sets disc ``i``'s ``name``: the shared structure's own name,
        the pattern's (``thickness@P``) or the disc's (``centre_x@3``)."""
        if name not in PER_DISC:
            return name
        if name in PER_PATTERN and self.patterns[i] is not None:
            return f"{name}@{self.patterns[i]}"
        return own_name(name, i)

    def local(self, theta: torch.Tensor, i: int) -> torch.Tensor:
        """Disc ``i``'s own parameter vector (its model's ``free`` order)."""
        return theta[self.index[i]]

    def set_linear_start(self, observed: np.ndarray, use: np.ndarray, sigma: np.ndarray) -> None:
        """Each disc's scale and background by weighted linear least squares at the start
        (``observed``, ``use``, ``sigma`` shaped like the model, (1, Σ side_i²))."""
        observed, use, sigma = observed.reshape(-1), use.reshape(-1), sigma.reshape(-1)
        for i, (lo, hi) in enumerate(self.spans()):
            disc = self.models[i].evaluate(self.local(self.start, i)).reshape(-1).numpy()
            keep = use[lo:hi]
            solution, _ = linear_scale_background(disc[keep], observed[lo:hi][keep], 1.0 / sigma[lo:hi][keep])
            self.start[self.scale_index[i]], self.start[self.background_index[i]] = float(solution[0]), float(solution[1])

    def register(self, observed: np.ndarray, use: np.ndarray) -> None:
        """Each disc's free centre started where its starting disc lies best (DiscModel.register);
        ``observed`` and ``use`` shaped like the model, (1, Σ side_i²)."""
        observed, use = observed.reshape(-1), use.reshape(-1)
        for i, ((lo, hi), m) in enumerate(zip(self.spans(), self.models, strict=True)):
            if m.register(observed[lo:hi].reshape(m.side, m.side), use[lo:hi].reshape(m.side, m.side)) is not None:
                for j, name in enumerate(m.free):
                    self.start[self.index[i][j]] = m.start[j]

    def spans(self) -> list[tuple[int, int]]:
        """Where each disc's pixels lie in the joint row: [(start, end)] per disc."""
        ends = np.cumsum([0] + self.sizes)
        return [(int(ends[i]), int(ends[i + 1])) for i in range(len(self.models))]

    def evaluate(self, theta: torch.Tensor) -> torch.Tensor:
        """s_i · I_i + b_i of every disc, flattened side by side, shape (1, Σ side_i²)."""
        parts = [theta[self.scale_index[i]] * m.evaluate(self.local(theta, i)).reshape(-1) + theta[self.background_index[i]]
                 for i, m in enumerate(self.models)]
        return torch.cat(parts)[None]

    def jacobian(self, theta: torch.Tensor, *, exact: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The joint disc and its Jacobian (1, Σ side_i², n): each disc's columns by its own
        parameters (times its scale), its scale's column I_i and its background's 1."""
        theta = theta.detach()
        values, columns = [], []
        for i, m in enumerate(self.models):
            disc, jac = m.jacobian(self.local(theta, i), exact=exact)
            scale = theta[self.scale_index[i]]
            block = torch.zeros((self.sizes[i], len(self.free)), dtype=torch.float64)
            block[:, self.index[i]] = scale * jac.reshape(self.sizes[i], -1)
            block[:, self.scale_index[i]] = disc.reshape(-1)
            block[:, self.background_index[i]] = 1.0
            values.append(scale * disc.reshape(-1) + theta[self.background_index[i]])
            columns.append(block)
        return torch.cat(values)[None], torch.cat(columns)[None]

    def reselect_beams(self, theta: torch.Tensor) -> bool:
        changed = [m.reselect_beams(self.local(theta, i)) for i, m in enumerate(self.models)]
        return any(changed)

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """A (1, Σ side_i²) array back into the discs' side × side images."""
        flat = np.asarray(flat).reshape(-1)
        return [flat[lo:hi].reshape(m.side, m.side) for (lo, hi), m in zip(self.spans(), self.models, strict=True)]

    def crystal_at(self, theta: torch.Tensor):
        return self.models[0].crystal_at(self.local(theta, 0))
