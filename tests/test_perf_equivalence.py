"""The fast paths of issue 6 give the results of the straightforward ones.

Each optimisation keeps a slow, obviously-correct oracle here (whole-array scipy rank
filters, per-framelet inverse maps) and checks the fast code against it: bit for bit
where the fast path selects the same elements, within float32 tolerance otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from junocam.calibrate import _median_filter_lines_samples, repair_hot_pixels


def _hot_pixels_oracle(
    x: np.ndarray, threshold: float = 8.0, size: int = 3, shot_noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The documented rule evaluated everywhere with full median filters."""
    med = ndimage.median_filter(x, size=(1, size, size), mode="mirror")
    resid = x - med
    absr = np.abs(resid)
    local = ndimage.median_filter(absr, size=(1, 2 * size + 1, 2 * size + 1), mode="mirror")
    gmad = np.median(absr.reshape(absr.shape[0], -1), axis=1)[:, None, None]
    sigma = 1.4826 * np.maximum(local, 0.5 * gmad)
    sigma = np.maximum(
        np.maximum(sigma, np.float32(shot_noise) * np.sqrt(np.maximum(med, 1.0))), np.float32(0.5)
    )
    limit = np.float32(threshold) * sigma
    ring = np.ones((1, 3, 3), dtype=bool)
    ring[0, 1, 1] = False
    up = x - ndimage.maximum_filter(x, footprint=ring, mode="mirror")
    down = ndimage.minimum_filter(x, footprint=ring, mode="mirror") - x
    bad = ((resid > limit) & (up > limit)) | ((-resid > limit) & (down > limit))
    return np.where(bad, med, x).astype(np.float32), bad


def _noisy_stack(seed: int, shape: tuple[int, int, int] = (3, 64, 90)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.poisson(200, shape).astype(np.float32)
    x[rng.random(shape) < 0.01] *= 5  # hot
    x[rng.random(shape) < 0.005] = 0  # dead
    x[:, 20:30, 40:60] += 800  # an edge that must stay
    return x


@pytest.mark.parametrize("shape", [(2, 5, 7), (3, 64, 90), (1, 3, 3)])
@pytest.mark.parametrize("quantise", [False, True])
def test_median3x3_network_is_the_rank_filter(shape: tuple[int, int, int], quantise: bool):
    x = np.random.default_rng(0).normal(100, 3, shape).astype(np.float32)
    if quantise:  # many ties
        x = np.round(x / 3).astype(np.float32)
    want = ndimage.median_filter(x, size=(1, 3, 3), mode="mirror")
    assert np.array_equal(_median_filter_lines_samples(x, 3), want)


@pytest.mark.parametrize(("threshold", "size"), [(8.0, 3), (3.0, 3), (5.0, 5), (10.0, 7)])
def test_hot_pixels_equal_the_full_filter_rule(threshold: float, size: int):
    x = _noisy_stack(int(threshold) + size)
    want, want_mask = _hot_pixels_oracle(x, threshold, size)
    got, mask = repair_hot_pixels(x, threshold, size, return_mask=True)
    assert mask.sum() > 50
    assert np.array_equal(mask, want_mask)
    assert np.array_equal(got, want)


def test_hot_pixels_with_nan_equal_the_full_filter_rule():
    x = _noisy_stack(3)
    x[0, 5, 5] = np.nan
    want, want_mask = _hot_pixels_oracle(x)
    got, mask = repair_hot_pixels(x, return_mask=True)
    assert np.array_equal(mask, want_mask)
    assert np.array_equal(got, want, equal_nan=True)
