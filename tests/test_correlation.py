from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from w2v.correlation import pearson, ranks, spearman

# Small integers give many ties, the case rank averaging is about.
samples = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-5, 5), min_size=n, max_size=n),
        st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n),
    )
)


def test_ranks_average_ties():
    assert ranks([10, 20, 10, 30, 20, 20]).tolist() == [1.5, 4, 1.5, 6, 4, 4]


@given(samples)
def test_equal_scipy(sample):
    x, y = sample
    np.testing.assert_allclose(ranks(x), stats.rankdata(x))
    if np.ptp(x) > 0 and np.ptp(y) > 1e-6 * max(map(abs, y)):
        assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-9)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-9)


def test_constant_input_gives_nan():
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
