"""Felix's output file layout (names and the raw .bin format), shared by both backends.

Facts (Felix master 9034b2a, write_output_mod.f90:323-386; docs/felix_physics.md §8):
- folder ``<formula>_Sim_<tttt>A_<2N>x<2N>``: tttt = NINT(thickness in Å) zero-padded to 4
  digits, 2N zero-padded to 3 digits (``GaAs_Sim_0930A_064x064``);
- file ``<formula>_<±h><±k><±l>.bin`` with explicit signs (``GaAs_+0+0+0.bin``);
- content: raw float64, native (little-endian) byte order, no header, 2N × 2N row-major; reading
  it row-major gives img[r, c] with r ↔ k_y and c ↔ k_x.
- formula: ``_chemical_formula_structural`` (else ``_iupac``, else ``_sum``) keeping only
  [A-Za-z0-9] (read_cif_mod.f90:148-165).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...io import write_bytes_atomic
from ..settings import nint

Hkl = tuple[int, int, int]


def felix_formula(text: str) -> str:
    """Felix's formula tag: the formula text with everything but [A-Za-z0-9] removed."""
    return re.sub(r"[^A-Za-z0-9]", "", text)



def output_folder_name(formula: str, thickness: float, side: int) -> str:
    """``<formula>_Sim_<tttt>A_<side>x<side>`` (thickness [Å] rounded to the nearest integer)."""
    return f"{felix_formula(formula)}_Sim_{nint(thickness):04d}A_{side:03d}x{side:03d}"


def disc_file_name(formula: str, hkl: Hkl) -> str:
    """``<formula>_+h+k+l.bin`` with an explicit sign on every index."""
    h, k, l = (int(v) for v in hkl)
    return f"{felix_formula(formula)}_{h:+d}{k:+d}{l:+d}.bin"


def read_disc_bin(path: str | os.PathLike[str], side: int | None = None) -> np.ndarray:
    """Read a Felix disc ``.bin`` (raw little-endian float64, side × side, row-major).

    With ``side=None`` the side is inferred from the file size (it must be a square).
    Raises :class:`InputError` for a missing file or a size that does not match.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError("Felix output file not found", path=p) from None
    n_values = len(raw) // 8
    if len(raw) % 8:
        raise InputError(f"size {len(raw)} bytes is not a whole number of float64 values", path=p)
    if side is None:
        side = int(round(math.sqrt(n_values)))
        if side * side != n_values:
            raise InputError(f"{n_values} float64 values do not form a square image", path=p)
    if n_values != side * side:
        raise InputError(f"expected {side}×{side} float64 values ({8 * side * side} bytes), got {len(raw)} bytes", path=p)
    return np.frombuffer(raw, dtype="<f8").reshape(side, side).copy()


def write_disc_bin(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a square image as Felix does: raw little-endian float64, row-major, atomically."""
    array = np.ascontiguousarray(image, dtype="<f8")
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"expected a square 2-D image, got shape {array.shape}")
    write_bytes_atomic(path, array.tobytes())
