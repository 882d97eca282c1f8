"""exp, erfc and the chi-square tail over arrays, for the batch kernel (numba).

libm's ``exp`` and ``erfc`` are opaque calls: at three per meta-analysis (the p-value of
the estimate, the chi-square tail of Q) they cost more than the whole DerSimonian-Laird
fit. These are plain arithmetic loops instead: exp by Cody-Waite reduction and a degree-13
Taylor polynomial scaled by 2^n built from its bits; erfc as erfcx(x) exp(-x^2), with
erfcx from piecewise polynomials on 100 pieces of y = 4 / (4 + x) (the layout of Johnson's
Faddeeva package) fitted at import to scipy's erfcx. Relative error against scipy: exp
2.3e-16 on [0, 708], erfc 2.6e-15 on [0, 26] (``tests/test_batch.py``). Callers keep the
arguments in those ranges and take libm for the rare rest.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import special

__all__ = ["ERFC_MAX", "EXP_MAX", "TABLE", "chi2_tail", "erfc_pos", "erfcx_table", "exp_neg"]

#: exp_neg is exact to a few ulps for 0 <= u <= EXP_MAX (2^n stays a normal number).
EXP_MAX = 708.0
#: erfc_pos is valid for 0 <= x <= ERFC_MAX (exp(-x^2) stays a normal number).
ERFC_MAX = 26.0

_LOG2E = 1.4426950408889634
# ln 2 in two parts: the first has trailing zero bits, so n * _LN2_HI is exact
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT1_PI = 1.0 / math.sqrt(math.pi)
# Only contraction into fused multiply-adds: reassociation would undo the two-part
# reduction (x - n ln2_hi) - n ln2_lo, which is what keeps exp accurate.
_EXACT = {"contract"}


def erfcx_table(pieces: int = 100) -> np.ndarray:
    """Degree-6 polynomial coefficients of erfcx on each piece [j, j+1] / pieces of
    y = 4 / (4 + x), in the local variable t = 2 (y pieces - j) - 1, lowest power first
    (pieces x 7), least-squares on 64 Chebyshev nodes per piece.
    """
    degree = 6
    nodes = np.cos(np.pi * (np.arange(64) + 0.5) / 64)      # in [-1, 1]
    table = np.empty((pieces, degree + 1))
    for j in range(pieces):
        y = (j + (nodes + 1) / 2) / pieces
        table[j] = np.polynomial.polynomial.polyfit(nodes, special.erfcx(4 / y - 4), degree)
    return table


#: The erfcx pieces every caller uses (about 5 ms to fit at import).
TABLE = erfcx_table()


@njit(cache=True, fastmath=_EXACT, error_model="numpy")
def exp_neg(u, n, out, bits):
    """out[:n] = exp(-u[:n]) for 0 <= u <= EXP_MAX; ``bits`` is int64 scratch."""
    scale = bits.view(np.float64)
    for i in range(n):
        x = -u[i]
        e = math.floor(x * _LOG2E + 0.5)
        r = (x - e * _LN2_HI) - e * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[i] = p * r + 1.0
        bits[i] = (np.int64(e) + 1023) << 52        # the bits of the double 2^e
    for i in range(n):
        out[i] *= scale[i]


@njit(cache=True, fastmath=_EXACT, error_model="numpy")
def erfc_pos(x, n, out, sq, bits, table):
    """out[:n] = erfc(x[:n]) for 0 <= x <= ERFC_MAX (``out`` may be ``x``); ``sq`` and
    ``bits`` are scratch."""
    pieces = table.shape[0]
    # piece and local variable first, in a loop of its own: it vectorises, the lookup
    # below cannot (the pieces differ per element)
    for i in range(n):
        xi = x[i]
        sq[i] = xi * xi
        y = 4.0 / (4.0 + xi) * pieces
        j = min(math.floor(y), pieces - 1.0)
        out[i] = 2.0 * (y - j) - 1.0
        bits[i] = np.int64(j)
    for i in range(n):
        c = table[bits[i]]               # the piece's degree-6 polynomial, unrolled
        t = out[i]
        p = c[6]
        p = p * t + c[5]
        p = p * t + c[4]
        p = p * t + c[3]
        p = p * t + c[2]
        p = p * t + c[1]
        out[i] = p * t + c[0]
    exp_neg(sq, n, sq, bits)
    for i in range(n):
        out[i] *= sq[i]


@njit(cache=True, fastmath=_EXACT, error_model="numpy")
def chi2_tail(q, df, n, out, sc, bits, table):
    """out[:n] = P(chi^2_df > q) by the finite series; NaN where df < 1 or where the
    series would underflow (q / 2 > 700: the caller asks scipy); ``sc`` is (6, n) scratch.

    Even df: e^(-h) sum_{j < df/2} h^j / j!; odd df: erfc(sqrt h) plus e^(-h) times
    2 sqrt(h / pi) sum_{j < (df-1)/2} h^j / (3/2)(5/2)...(j+1/2) (h = q / 2). Every term is
    positive, so the relative error stays a few ulps.
    """
    h, e, ec, tmp, term, s = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
    half = tmp        # df // 2 as a float, until erfc needs tmp
    for i in range(n):
        hi = 0.5 * q[i]
        h[i] = min(max(hi, 0.0), 700.0) if hi == hi else 0.0
        root = math.sqrt(h[i])
        ec[i] = min(root, ERFC_MAX)
        odd = (df[i] & 1) == 1            # bit tests, not % and //: these vectorise
        term[i] = 2.0 * _SQRT1_PI * root if odd else 1.0
        s[i] = term[i] if df[i] > 1 else 0.0
        half[i] = df[i] >> 1
    most = 0
    for i in range(n):
        most = max(most, df[i] >> 1)
    # the sums run over j across all rows at once, each row stopping at its own df
    for j in range(1, most):
        odd_c, even_c = 1.0 / (j + 0.5), 1.0 / j       # divisions once per j, not per row
        for i in range(n):
            c = odd_c if (df[i] & 1) == 1 else even_c
            term[i] *= h[i] * c
            s[i] += term[i] if j < half[i] else 0.0
    exp_neg(h, n, e, bits)
    erfc_pos(ec, n, ec, tmp, bits, table)
    for i in range(n):
        qi = q[i]
        r = e[i] * s[i] + (ec[i] if (df[i] & 1) == 1 else 0.0)
        r = 1.0 if not qi > 0 else r
        out[i] = math.nan if (df[i] < 1 or qi != qi or 0.5 * qi > 700.0) else r
    for i in range(n):          # beyond erfc_pos's range (q > 1352: p < 1e-294)
        if (df[i] & 1) == 1 and h[i] > ERFC_MAX * ERFC_MAX and out[i] == out[i]:
            out[i] = e[i] * s[i] + math.erfc(math.sqrt(h[i]))
