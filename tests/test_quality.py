"""Image-quality measures: phase-correlation shifts, covered boxes, seam figures."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import ndimage

import junocam.quality
from junocam.camera import CameraModel
from junocam.quality import (
    covered_box,
    framelet_edge_distance,
    noise_sigma,
    patch_shifts,
    phase_shift,
    seam_figure,
)
from junocam.spin import SpinModel
from junocam.stitch import CylinderGrid


def texture(shape: tuple[int, int] = (384, 512), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.standard_normal(shape), 2.5) * 100 + 500


def test_docstring_examples() -> None:
    result = doctest.testmod(junocam.quality, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.25, -0.4), (-2.0, 3.3)])
def test_phase_shift_recovers_known_shifts(shift: tuple[float, float]) -> None:
    img = texture()
    moved = ndimage.shift(img, shift, order=3, mode="nearest")
    dr, dc = phase_shift(img, moved)
    assert dr == pytest.approx(-shift[0], abs=0.04)
    assert dc == pytest.approx(-shift[1], abs=0.04)
    with pytest.raises(ValueError):
        phase_shift(img, img[:10])


def test_patch_shifts_local_and_masked() -> None:
    img = texture()
    moved = ndimage.shift(img, (0.0, 0.6), order=3, mode="nearest")
    mask = np.ones(img.shape, bool)
    mask[:, :128] = False  # a hole: patches touching it are skipped
    ps = patch_shifts(img, moved, mask, patch=128)
    assert ps.n == 3 * 3
    assert np.all(ps.centers[:, 1] > 128)
    assert ps.rms == pytest.approx(0.6, abs=0.05)
    assert ps.mean[1] == pytest.approx(-0.6, abs=0.05)
    # a flat (textureless) pair gives nothing to measure
    flat = np.full(img.shape, 7.0) + np.random.default_rng(1).normal(0, 1, img.shape)
    empty = patch_shifts(flat, flat, np.ones(img.shape, bool))
    assert empty.n == 0 and np.isnan(empty.rms) and np.isnan(empty.max)


def test_covered_box_is_inside_the_mask() -> None:
    yy, xx = np.mgrid[:200, :300]
    mask = (yy - 100) ** 2 / 90**2 + (xx - 150) ** 2 / 140**2 < 1
    rows, cols = covered_box(mask)
    assert mask[rows, cols].all()
    assert mask[rows, cols].size > 0.4 * mask.sum()
    assert covered_box(np.zeros((5, 5), bool)) is None


def test_noise_sigma() -> None:
    rng = np.random.default_rng(3)
    img = rng.normal(10.0, 3.0, (200, 200))
    assert noise_sigma(img) == pytest.approx(3.0, rel=0.05)
    mask = np.zeros(img.shape, bool)
    assert np.isnan(noise_sigma(img, mask))


def test_edge_distance_and_seam_figure() -> None:
    cam = CameraModel()
    spin = SpinModel(0.0776, reference_exposure=1.0)
    from junocam.framelets import split

    fr = split(np.zeros((3 * 128, 1648), np.float32), ["GREEN"])
    grid = CylinderGrid.covering(fr, cam, spin, scale=cam.focal_px / 4)
    dist, count = framelet_edge_distance(grid, cam, spin, "GREEN", 3, chunk_rows=50)
    assert dist.shape == count.shape == grid.shape
    assert count.max() == 2  # consecutive framelets overlap
    covered = count > 0
    assert np.all(np.isfinite(dist[covered])) and np.all(np.isinf(dist[~covered]))
    assert float(dist[covered].max()) <= 63.5
    # an error that is large only at framelet edges makes a seam figure above 1
    err = np.where(dist <= 2, 3.0, 1.0)
    fig = seam_figure(err, dist, covered, border=1)
    assert fig.ratio == pytest.approx(3.0)
    assert fig.n_near > 0 and fig.n_far > 0
