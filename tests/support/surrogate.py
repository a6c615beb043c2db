"""Shared pieces of the surrogate tests: a tiny network, and (re-exported) the synthetic results
tree and the refine command's test case."""

from __future__ import annotations

from support import refine_case, synthetic  # noqa: F401  (re-exported for the surrogate tests)

#: A tiny network so that CI trains in seconds on 2 cores.
TINY = {"ngf": 4, "ndf": 4, "batch_size": 4, "device": "cpu"}
