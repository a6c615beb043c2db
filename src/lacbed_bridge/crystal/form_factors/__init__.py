"""Atomic scattering factors: the one home of the form-factor parametrizations every stage uses.

One module per parametrization, each with its units and its source:

- :mod:`.kirkland`: electron form factor f_e(q) [Å] of the neutral atom, Kirkland (2010), eq. C.15,
  q = 1/d [1/Å] — the LACBED simulator's neutral atom (Felix's IScatterFactorMethodFLAG = 0) and
  the input of the Bird–King absorptive form factor (``simulate/absorption.py``);
- :mod:`.it92`: X-ray form factor f_x(s) [e] of the neutral atom, International Tables Vol. C,
  Table 6.1.1.4 (IT92, gemmi's coefficients), s = sinθ/λ [1/Å];
- :mod:`.slater`: single-zeta Slater orbital form factors with the Clementi–Raimondi exponents;
- :mod:`.mott_bethe`: the Mott–Bethe conversion of an X-ray into an electron form factor;
- :mod:`.kappa`: the Hansen–Coppens κ form factors of a partly charged atom (X-ray and, by
  Mott–Bethe, electron), built from the three above and the valence shell of the charge model
  (:mod:`lacbed_bridge.crystal.charge`).

Note the two reciprocal variables: q = 1/d = 2s (Kirkland) and s = sinθ/λ = 1/(2d) (IT92, κ model).
Structure-factor sums over the atoms of the cell are :mod:`lacbed_bridge.crystal.structure_factor`.
"""
