"""benchmarks/kernel_choice.py: both ways of the day loop agree, and it runs."""

from __future__ import annotations

import numpy as np

from benchmarks.kernel_choice import market, numba_loop, numpy_dense


def test_numpy_and_numba_loops_give_the_same_equity():
    m = market(seed=3)
    a, b = numpy_dense(m), numba_loop(m)
    assert np.allclose(a, b, rtol=1e-12)
    assert (a[-1] != a[0]).any()  # it traded
