r"""Wright's omega function ω(x) (the root of ω + log ω = x) in array-API operations.

Started from Winitzki's approximation :math:`\ell (1 - \log(1+\ell)/(2+\ell))`,
:math:`\ell = \log(1 + e^x)` (within 2 % on the real line), and refined by two
Fritsch–Shafer–Crowley steps (fourth order), which bring it to rounding level. As in
:mod:`dnmf._kernels` (the NumPy kernel, whose module docstring derives these forms), the series
:math:`\sum_{n\le 5} (-n)^{n-1} e^{nx}/n!` replaces the result below x = -8 and
:math:`x - \log x + \log x / x` above 10¹⁰, where both are exact to rounding.
"""

from __future__ import annotations

_EXP_SERIES = (1.0, -1.0, 1.5, -8.0 / 3.0, 125.0 / 24.0)


def _fsc_step(xp, x, w):
    """w + w z (t − z/2) / ((1+w)(t − z)), z = x − w − log w, t = (1+w)(1+w+2z/3)."""
    z = x - xp.log(w) - w
    u = w + 1.0
    t = (z * (2.0 / 3.0) + u) * u
    return w + (t - z * 0.5) * z * w / ((t - z) * u)


def wright_omega(xp, x):
    """ω(x) entrywise, in the dtype of ``x`` (finite input)."""
    L = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0.0)
    w = L * (1.0 - xp.log1p(L) / (L + 2.0))
    w = _fsc_step(xp, x, _fsc_step(xp, x, w))
    e = xp.exp(xp.minimum(x, -8.0))
    series = xp.full_like(x, _EXP_SERIES[-1])
    for c in _EXP_SERIES[-2::-1]:
        series = series * e + c
    w = xp.where(x < -8.0, e * series, w)
    big = xp.maximum(x, 1e10)
    lx = xp.log(big)
    return xp.where(x > 1e10, big - lx + lx / big, w)
