"""The workflow's own settings: what runs (directions, models, seeds, the split models train on),
how the work is cut (samples per batch job) and the optional refine-test rule.

Every stage has one frozen settings object built from the config, whose defaults come from the
schema alone (:func:`~lacbed_bridge.config.schema_defaults`) and whose hash is the reuse key of
the stage's outputs: :class:`~lacbed_bridge.simulate.run.SimulationSettings` (the LACBED discs),
:class:`~lacbed_bridge.edd.settings.EddSettings` (EDD images),
:class:`~lacbed_bridge.dataset.cli.DatasetSettings`, :class:`~lacbed_bridge.surrogate.config.TrainConfig`
and :class:`~lacbed_bridge.surrogate.config.EvaluateConfig`. This module holds the two that belong
to the workflow rather than to one stage. Light to import: the Snakefile reads it on every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import schema_defaults, section_settings

#: the schema's defaults of ``workflow`` (the one place they are written)
_WORKFLOW = schema_defaults("workflow")


@dataclass(frozen=True)
class WorkflowSettings:
    """What the workflow runs and how it cuts the work (config ``workflow`` and the run-list keys of
    ``train``).

    batch_size: samples per simulate/edd job; models: trained per direction and seed;
    benchmark_quick: benchmarks with ``--quick``; n_figure_samples: test samples per direction in
    figure (a); directions, seeds: the training runs; split: the dataset split models train on;
    require_converged: a simulate batch fails when one of its discs did not converge;
    estimator: train and score the charge estimator per seed.
    """

    batch_size: int
    models: tuple[str, ...]
    benchmark_quick: bool
    n_figure_samples: int
    directions: tuple[str, ...]
    seeds: tuple[int, ...]
    split: str
    require_converged: bool = _WORKFLOW["require_converged"]
    estimator: bool = _WORKFLOW["estimator"]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorkflowSettings:
        """From a config (absent keys: the schema's defaults)."""
        workflow = section_settings(config, "workflow")
        train = section_settings(config, "train")
        return cls(
            batch_size=int(workflow["batch_size"]),
            models=tuple(workflow["models"]),
            benchmark_quick=bool(workflow["benchmark_quick"]),
            n_figure_samples=int(workflow["n_figure_samples"]),
            directions=tuple(train["directions"]),
            seeds=tuple(int(s) for s in train["seeds"]),
            split=str(train["split"]),
            require_converged=bool(workflow["require_converged"]),
            estimator=bool(workflow["estimator"]),
        )


@dataclass(frozen=True)
class RefineTestSettings:
    """The optional ``refine_test`` rule (config ``refine``, docs/refine.md): Poisson ``counts`` per
    unit intensity of the noisy discs, ``n`` test discs (None: all), the ``free`` parameters
    (comma-separated, as ``lacbed-bridge refine --free``), and whether ``all`` includes it."""

    counts: float
    n: int | None
    free: str
    in_all: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RefineTestSettings:
        """From a config (absent keys: the schema's defaults)."""
        refine = section_settings(config, "refine")
        return cls(counts=float(refine["counts"]), n=None if refine["n"] is None else int(refine["n"]),
                   free=str(refine["free"]), in_all=bool(refine["in_all"]))
