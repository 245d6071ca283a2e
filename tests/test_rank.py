"""junocam.rank: exact order statistics by bracketing equal numpy's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam import rank


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 400),
    st.lists(st.floats(0, 100), min_size=1, max_size=5),
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.float32, np.float64]),
)
def test_percentile_is_numpys_on_small_arrays(n: int, q: list[float], seed: int, dtype: type):
    x = np.round(np.random.default_rng(seed).normal(0, 5, n), 1).astype(dtype)  # ties
    assert np.array_equal(rank.percentile(x, q), np.percentile(x, q))
    assert rank.median(x) == float(np.median(x))


@pytest.mark.parametrize("n", [100_000, 250_001, 1_000_000])
@pytest.mark.parametrize(
    "kind", ["uniform", "quantised", "sorted", "reversed", "strided", "constant", "skewed"]
)
def test_bracketed_statistics_are_numpys(n: int, kind: str, monkeypatch: pytest.MonkeyPatch):
    """Large arrays take the bracketing path; orders built against the sample's
    stride make brackets miss and fall back to a full partition: same values."""
    rng = np.random.default_rng(n)
    x = {
        "uniform": lambda: rng.random(n),
        "quantised": lambda: np.round(rng.normal(100, 3, n)),
        "sorted": lambda: np.sort(rng.random(n)),
        "reversed": lambda: np.sort(rng.random(n))[::-1],
        "constant": lambda: np.full(n, 0.25),
        "skewed": lambda: rng.random(n) ** 8,
        # every sampled value is the largest: the brackets are all wrong
        "strided": lambda: np.where(np.arange(n) % (n // rank._SAMPLE) == 0, 1.0, rng.random(n)),
    }[kind]().astype(np.float32)
    q = [0.0, 0.1, 0.5, 50.0, 99.7, 99.8, 100.0]
    assert np.array_equal(rank.percentile(x, q), np.percentile(x, q))
    assert rank.median(x) == float(np.median(x))
    ks = [0, n // 3, n - 1]
    assert np.array_equal(rank.order_statistics(x, ks), np.sort(x)[ks])
    monkeypatch.setattr(rank, "_SMALL", 10)  # the bracketing path on a small array too
    y = x[:999]
    assert np.array_equal(rank.percentile(y, q), np.percentile(y, q))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="ranks"):
        rank.order_statistics(np.zeros(3), [3])
    with pytest.raises(ValueError, match="empty"):
        rank.median(np.zeros(0))
    with pytest.raises(ValueError, match="percentiles"):
        rank.percentile(np.zeros(3), [101.0])
