"""Shared pieces of the surrogate tests (a module with a unique name, importable from any test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("lacbed_test_synthetic", Path(__file__).parents[1] / "dataset" / "dataset_synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)
#: the refine command's test case (tests/refine/refine_case.py)
_spec = importlib.util.spec_from_file_location("lacbed_test_refine_case", Path(__file__).parents[1] / "refine" / "refine_case.py")
refine_case = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refine_case)

#: A tiny network so that CI trains in seconds on 2 cores.
TINY = {"ngf": 4, "ndf": 4, "batch_size": 4, "device": "cpu"}
