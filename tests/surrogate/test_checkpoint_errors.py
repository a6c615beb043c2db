"""A bad checkpoint gets one honest line (issue #25 item 13): a truncated file says so (not
"[Errno 22] Invalid argument"), and a file holding other Python objects is refused without relaying
torch's advice to load it with weights_only=False (which would run code from the file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lacbed_bridge.errors import InputError
from lacbed_bridge.surrogate.checkpoint import load_checkpoint


class _Payload:
    """Any class: unpickling it needs code, which weights_only refuses."""


def test_a_truncated_checkpoint_says_so(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"format": "x", "weights": torch.zeros(2000)}, good)
    cut = tmp_path / "model.pt"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(InputError, match="damaged or truncated file") as err:
        load_checkpoint(cut)
    assert "Errno" not in str(err.value) and str(cut) in str(err.value)


def test_a_checkpoint_with_code_is_refused_without_unsafe_advice(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"payload": _Payload()}, path)
    with pytest.raises(InputError, match="would run code") as err:
        load_checkpoint(path)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
