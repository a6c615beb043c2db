"""Felix's reflection pool, reproduced bit for bit: the ``pool: felix`` mode (Felix master 9034b2a,
built with ``-O3 -m64 -ffast-math -march=native`` by gfortran 12.2 on an x86-64 CPU with FMA).

Felix fills its pool shell by shell and stops when it is full, so which reflection lying exactly
on a shell boundary |g| = ℓΔ enters is decided by the rounding of its own arithmetic: no
tolerance rule reproduces it (measured: Felix put 724 boundary reflections in the inner and 285
in the outer shell over 35 reference cases). This module is an independent Python description of
what the compiled Felix computes (learnt from the disassembly of that build and checked against
it with a probe calling its routines; no Felix code here), verified against 939 pools of real
Felix runs (tests/data/felix_reference, docs/felix.md "Felix-exact pool").
The pool is decided in four steps:

1. **Cell as Felix reads it.** CIFtbx parses each number of ``_cell_length_*`` /
   ``_cell_angle_*`` into a double (digit by digit) and returns it as a **single-precision**
   REAL, so Felix works with ``float32(a)`` promoted to double (5.65325 → 5.6532502174377…).
   Angles in degrees become radians by one multiplication with fl(π/180).
2. **Frame** (``ReciprocalLattice``): orthogonal direct basis (a ∥ x, b in x–y), reciprocal
   basis with 2π, tiny components (< 1e-9) zeroed, X̂ from IXDirection (reciprocal), Ẑ from
   IIncidentBeamDirection (direct), Ŷ = Ẑ × X̂, direct basis rotated, reciprocal basis rebuilt
   from the rotated direct basis. Every a·b + c is an FMA in a fixed order (see the helpers),
   normalisation multiplies by 1/|v|, and in ``2π·(u×v)/D`` the x and y components are divided
   by D while the z component is multiplied by 1/D.
3. **Shells** (``HKLMake``): Δ = min |a*|, |b*|, |c*|; shell ℓ takes (ℓ−1)Δ < |g| ≤ ℓΔ with the
   bounds computed as fl(ℓ·Δ); |g| is computed as sqrt(fma(g_z, g_z, fl(g_x²) + fl(g_y²))) with
   g_i = fma(l, c*_i, fma(h, a*_i, fl(k·b*_i))). Loop order h, k, l ascending; ZOLZ test
   |K − |k₀+g||/|g| − 0.08 < 1e-9; stop at IMinReflectionPool (000 included).
4. **Order** (``HKLSort``): Numerical Recipes' shell sort (not stable) on |g|² computed in the
   *orthogonal* frame as fma(S_z, S_z, fma(S_x, S_x, fl(S_y²))), S_i = fma(l, c*_i, fma(h, a*_i, fl(k·b*_i))).

Public: :func:`felix_pool`, :func:`felix_frame`, :func:`felix_wavenumber`, :func:`felix_cif_real`.
FMA is emulated exactly with :class:`fractions.Fraction` where it matters; the bulk of the
reflections is screened in plain float64 and only those within 1e-11 (relative) of a shell
boundary or of the ZOLZ threshold are recomputed exactly.

A Felix built by another compiler or for a CPU without FMA may choose differently (with plain
IEEE arithmetic 25 % of the recorded pools differ): the pool belongs to the build.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np

from ...errors import InputError
from ..geometry import centring_allowed
from ..settings import nint

TINY = 1e-9
TWOPI = 6.283185307179586  # 8*atan(1), as Felix's INIT_NUMBERS gives it
DEG2RAD = math.pi / 180.0  # fl(π/180) = 0x3F91DF46A2529D39
ZOLZ_TOL = 0.08
LOG2_E = 1.4426950  # ALN2I of HKLSort (single precision in effect only for the loop count)

# Felix's constants (smodules.f90), including the typo in c
FELIX_CONSTANTS = dict(c=2.99762458e8, m0=9.10938291e-31, h=6.62606957e-34, e=1.602176565e-19)
CODATA_CONSTANTS = dict(c=2.99792458e8, m0=9.1093837015e-31, h=6.62607015e-34, e=1.602176634e-19)


# ----- exact floating-point building blocks ------------------------------------------------------
def fma(a: float, b: float, c: float) -> float:
    """Correctly rounded a·b + c (what the CPU's vfmadd gives), exact via rationals."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def fms(a: float, b: float, c: float) -> float:
    """Correctly rounded a·b − c (vfmsub)."""
    return float(Fraction(a) * Fraction(b) - Fraction(c))


def f32(x: float) -> float:
    """Round a double to single precision and back (Fortran REAL → REAL(8))."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def ciftbx_number(text: str) -> float:
    """The double CIFtbx's ``ctonum`` builds from a plain decimal (no exponent, no esd):
    integer digits by mant = mant·10 + d, decimals by mant = mant + d/10**n, each step rounded."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if any(ch in s for ch in "eEdDqQ("):
        raise InputError(f"the Felix-exact pool needs cell values as plain decimals, got {text!r}", field="cell")
    mant = 0.0
    ndec = -1
    for ch in s:
        if ch == ".":
            ndec = 0
            continue
        d = float(ord(ch) - 48)
        if ndec < 0:
            mant = mant * 10.0 + d
        else:
            ndec += 1
            mant = mant + d / 10.0**ndec
    return 1.0 * mant * sign


def felix_cif_real(value: float | str) -> float:
    """The value Felix works with for a CIF number: float32(CIFtbx parse), promoted to double.

    A float is first written as lacbed-bridge's felix.cif writer does (10 significant digits)."""
    text = value if isinstance(value, str) else f"{float(value):.10g}"
    return f32(ciftbx_number(text))


# --- the arithmetic patterns the compiler emitted ---
def cross(a, b):
    """gmodules CROSS as compiled: each component fma(x, y, −fl(z·w))."""
    return (
        fms(a[1], b[2], a[2] * b[1]),
        fms(a[2], b[0], a[0] * b[2]),
        fms(a[0], b[1], a[1] * b[0]),
    )


def dot3(u, v):
    """DOT_PRODUCT / MATMUL row as compiled in ReciprocalLattice: fma(u2, v2, fl(u0v0) + fl(u1v1))."""
    return fma(u[2], v[2], u[0] * v[0] + u[1] * v[1])


def norm2_chain(v):
    """|v|² as fma(v2, v2, fma(v0, v0, fl(v1²))) (basis magnitudes, X/Z normalisation, HKLSort)."""
    return fma(v[2], v[2], fma(v[0], v[0], v[1] * v[1]))


def comb(h, k, l, a, b, c, i):
    """Component i of h·a + k·b + l·c as compiled: fma(l, c_i, fma(h, a_i, fl(k·b_i)))."""
    return fma(l, c[i], fma(h, a[i], k * b[i]))


def recip(b, c, a):
    """2π (b × c) / (b · (c × a)): x, y divided by D, z multiplied by fl(1/D)."""
    x = cross(b, c)
    d = dot3(b, cross(c, a))
    return ((TWOPI * x[0]) / d, (TWOPI * x[1]) / d, (TWOPI * x[2]) * (1.0 / d))


def unit(v):
    r = 1.0 / math.sqrt(norm2_chain(v))
    return (v[0] * r, v[1] * r, v[2] * r)


# ----- frame ---------------------------------------------------------------------------------------
def felix_frame(cell, beam, xdir, normal=None):
    """Felix's ReciprocalLattice as compiled. ``cell`` = (a, b, c, α, β, γ) as CIF numbers (floats
    or CIF texts; lengths Å, angles degrees). Returns a dict of tuples: aO bO cO arO brO crO (orthogonal
    frame), X Y Z (rows of the O→M rotation), aM bM cM, arM brM crM (microscope frame, 2π included)."""
    lx, ly, lz, al, be, ga = (felix_cif_real(v) for v in cell)
    # angles: Felix converts them only when > 2π (degrees); for a value ≤ 2π it leaves its angle
    # unset (no ELSE branch), which this emulation does not reproduce (it takes it as radians)
    al, be, ga = (x * DEG2RAD if x > TWOPI else x for x in (al, be, ga))
    sg, cg = math.sin(ga), math.cos(ga)
    cb, ca = math.cos(be), math.cos(al)
    aO = (lx, 0.0, 0.0)
    bO = (ly * cg, ly * sg, 0.0)
    cgcb = cg * cb
    rad = fma(cgcb, ca + ca, fms(-cg, cg, -1.0) - fma(ca, ca, cb * cb))  # 1 − cγ² − (cα² + cβ²) + 2cα·cγcβ
    cO = (cb * lz, ((ca - cgcb) * lz) / sg, (math.sqrt(rad) / sg) * lz)
    arO = list(recip(bO, cO, aO))
    brO = list(recip(cO, aO, bO))
    crO = list(recip(aO, bO, cO))
    for v in (arO, brO, crO):
        for i in range(3):
            if abs(v[i]) < TINY:
                v[i] = 0.0
    arO, brO, crO = tuple(arO), tuple(brO), tuple(crO)
    x1, x2, x3 = (float(v) for v in xdir)
    X = unit(tuple(fma(x3, crO[i], fma(x1, arO[i], x2 * brO[i])) for i in range(3)))
    z1, z2, z3 = (float(v) for v in beam)
    Zr = (
        fma(z3, cO[0], fma(z1, aO[0], z2 * bO[0])),
        fma(z3, cO[1], fma(z1, aO[1], z2 * bO[1])),
        fma(z2, bO[2], fma(z1, aO[2], z3 * cO[2])),  # the compiler summed element 3 in another order
    )
    Z = unit(Zr)
    Y = cross(Z, X)
    rot = (X, Y, Z)
    aM = tuple(dot3(r, aO) for r in rot)
    bM = tuple(dot3(r, bO) for r in rot)
    cM = tuple(dot3(r, cO) for r in rot)
    arM = recip(bM, cM, aM)
    brM = recip(cM, aM, bM)
    crM = recip(aM, bM, cM)
    return dict(aO=aO, bO=bO, cO=cO, arO=arO, brO=brO, crO=crO, X=X, Y=Y, Z=Z,
                aM=aM, bM=bM, cM=cM, arM=arM, brM=brM, crM=crM)


def felix_wavenumber(voltage_kV: float, constants: str = "felix") -> float:
    """K = 2π/λ [1/Å] as felixrefine computes it (Felix's constants by default, c typo included)."""
    k = FELIX_CONSTANTS if constants == "felix" else CODATA_CONSTANTS
    c, m0, h, e = k["c"], k["m0"], k["h"], k["e"]
    # the compiler folded the constants (each product rounded once, as written here), merged
    # sqrt(x)·sqrt(y) into sqrt(x·y) and contracted 1 + eV/(2m0c²) into one FMA
    e_kv = e * 1000.0
    two_m0_e_kv = 2.0 * m0 * e * 1000.0
    inv_2m0c2 = 1.0 / (2.0 * m0 * c * c)
    v = float(voltage_kV)
    lam = (h * 1e10) / math.sqrt((v * two_m0_e_kv) * fma(v * e_kv, inv_2m0c2, 1.0))
    return TWOPI / lam


# ----- HKLMake -------------------------------------------------------------------------------------
def _allowed(hkl: np.ndarray, centring: str) -> np.ndarray:
    """Felix's SelectionRules: its "R" tests the reverse setting, its "V" the obverse one."""
    letter = centring.upper()[:1]
    return centring_allowed(hkl, {"R": "R_reverse", "V": "R"}.get(letter, letter))


def _g_exact(h: int, k: int, l: int, ar, br, cr, K: float):
    """(|g|, RDev − 0.08) exactly as HKLMake computes them."""
    g = [comb(float(h), float(k), float(l), ar, br, cr, i) for i in range(3)]
    s01 = g[0] * g[0] + g[1] * g[1]
    mag = math.sqrt(fma(g[2], g[2], s01))
    gz = g[2] + K
    dev = abs(K - math.sqrt(fma(gz, gz, s01))) / mag - ZOLZ_TOL
    return mag, dev


def hklmake(frame, centring: str, K: float, min_pool: int, g_limit: float = 0.0) -> np.ndarray:
    """Felix's HKLMake: the pool in Felix's fill order (000 first), (n, 3) int."""
    ar, br, cr = frame["arM"], frame["brM"], frame["crM"]
    mags = [math.sqrt(norm2_chain(v)) for v in (ar, br, cr)]
    shell = min(mags)
    if g_limit < TINY:
        rg = 10.0 * TWOPI
        n_max = int(min_pool)
    else:
        rg = g_limit * TWOPI
        n_max = 66666
    box = np.array([nint(rg / m) for m in mags])
    A = np.array([ar, br, cr])
    direct_over_2pi = np.linalg.norm(np.linalg.inv(A).T, axis=1)  # bound |h_i| ≤ |g|·|a_i|/2π
    radius = 4.0 * shell
    while True:
        ext = np.minimum(box, np.ceil(radius * direct_over_2pi).astype(int) + 1)
        axes = [np.arange(-e, e + 1) for e in ext]
        hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        hkl = hkl[np.any(hkl != 0, axis=1) & _allowed(hkl, centring)]
        hf = hkl.astype(float)
        # float64 screening (no FMA): within a few ulps of Felix's values
        g = hf[:, :1] * A[0] + hf[:, 1:2] * A[1] + hf[:, 2:3] * A[2]
        s01 = g[:, 0] ** 2 + g[:, 1] ** 2
        mag = np.sqrt(s01 + g[:, 2] ** 2)
        keep = mag <= radius * (1 + 1e-9)
        hkl, g, s01, mag = hkl[keep], g[keep], s01[keep], mag[keep]
        dev = np.abs(K - np.sqrt(s01 + (g[:, 2] + K) ** 2)) / mag - ZOLZ_TOL
        ell = np.floor(mag / shell).astype(np.int64) + 1
        # exact recomputation near a shell bound or the ZOLZ threshold
        near_bound = np.abs(mag / shell - np.rint(mag / shell)) < 1e-11 * np.maximum(1.0, mag / shell)
        near_zolz = np.abs(dev - TINY) < 1e-11
        for i in np.nonzero(near_bound | near_zolz)[0]:
            m_i, d_i = _g_exact(*(int(v) for v in hkl[i]), ar, br, cr, K)
            mag[i], dev[i] = m_i, d_i
        # shell index from Felix's bounds fl(ℓ·Δ): ℓ = smallest with |g| ≤ fl(ℓ·Δ)
        for _ in range(3):
            up = ell.astype(float) * shell
            lo = (ell - 1).astype(float) * shell
            ell = np.where(mag > up, ell + 1, np.where(mag <= lo, ell - 1, ell))
        near = (dev < TINY) & ((ell - 1).astype(float) * shell < rg)
        hkl, ell = hkl[near], ell[near]
        order = np.lexsort((hkl[:, 2], hkl[:, 1], hkl[:, 0], ell))
        hkl, ell = hkl[order], ell[order]
        n_take = min(n_max - 1, len(hkl))
        complete = n_take == n_max - 1 and (ell[n_take - 1] * shell < radius * (1 - 1e-9))
        everything = np.all(ext == box) or radius > rg + shell
        if complete or everything:
            break
        radius *= 2.0
    return np.vstack([np.zeros((1, 3), dtype=int), hkl[:n_take]]).astype(int)


# ----- HKLSort -------------------------------------------------------------------------------------
def sort_key(hkl, arO, brO, crO) -> float:
    h, k, l = (float(v) for v in hkl)
    s = [comb(h, k, l, arO, brO, crO, i) for i in range(3)]
    return norm2_chain(s)


def hklsort(pool: np.ndarray, frame) -> np.ndarray:
    """Felix's HKLSort: Numerical Recipes SHELL on |g|² in the orthogonal frame (not stable)."""
    arO, brO, crO = frame["arO"], frame["brO"], frame["crO"]
    rows = [tuple(int(v) for v in r) for r in pool]
    keys = [sort_key(r, arO, brO, crO) for r in rows]
    n = len(rows)
    lognb2 = int(math.log(float(np.float32(n))) * LOG2_E + 1e-5)
    m = n
    for _ in range(lognb2):
        m //= 2
        for j in range(1, n - m + 1):
            i = j
            while True:
                lidx = i + m
                if keys[lidx - 1] < keys[i - 1]:
                    keys[i - 1], keys[lidx - 1] = keys[lidx - 1], keys[i - 1]
                    rows[i - 1], rows[lidx - 1] = rows[lidx - 1], rows[i - 1]
                    i -= m
                    if i >= 1:
                        continue
                break
    return np.array(rows, dtype=int)


# ----- public --------------------------------------------------------------------------------------
def felix_pool(cell, centring, beam, xdir, normal, voltage_kV, min_pool, g_limit=0.0, constants="felix") -> np.ndarray:
    """Felix's beam pool, (n, 3) int, in Felix's order (that of StructureFactors.txt).

    cell: (a, b, c [Å], α, β, γ [deg]) as written in felix.cif (floats are written with 10
    significant digits as lacbed-bridge's writer does, or pass the CIF texts); centring: first
    letter of the H-M symbol (F, I, P, A, B, C; V/R as Felix); beam, xdir, normal: felix.inp
    IIncidentBeamDirection [uvw], IXDirection (hkl), INormalDirection [uvw] (the normal does not
    affect the pool); voltage_kV; min_pool: IMinReflectionPool (000 included); g_limit: RgLimit
    [1/Å, no 2π] (0: the pool size caps); constants: 'felix' (Felix's, with its c typo) or 'codata'.
    """
    frame = felix_frame(cell, beam, xdir, normal)
    K = felix_wavenumber(voltage_kV, constants)
    return hklsort(hklmake(frame, centring, K, min_pool, g_limit), frame)
