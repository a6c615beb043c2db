"""The prediction figure's title says what an EDD square shows (issue #25 item 13): one projected
cell only when it is one; a hexagonal crystal along [0001] spans 1.15 cells, not a period."""

from __future__ import annotations

from lacbed_bridge.figures.predictions import PredictionSet, edd_view_phrase


def _set(*rows: dict) -> PredictionSet:
    return PredictionSet("edd2lacbed", None, "random_0", rows=list(rows))


def test_one_cell_only_when_it_is_one() -> None:
    cubic = {"edd_cells_in_view": 1.0, "edd_periodic": True}
    hexagonal = {"edd_cells_in_view": 2 / 3**0.5, "edd_periodic": False}
    assert edd_view_phrase([_set(cubic, cubic)]) == "one projected cell a × a"
    phrase = edd_view_phrase([_set(cubic), _set(hexagonal)])
    assert "1–1.15 projected cells" in phrase and "not a lattice period" in phrase and "one projected cell" not in phrase
    assert edd_view_phrase([_set({})]) == "one projected cell a × a"  # a manifest that does not say
