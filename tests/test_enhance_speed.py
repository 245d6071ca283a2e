"""The shortcuts of the colour stages (issue 18) give the straightforward results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam import enhance


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(2, 20), st.integers(0, 2**32 - 1))
def test_upsample_linear_is_skimage_resize(n0: int, n1: int, k: int, seed: int):
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    a = rng.random((n0, n1)).astype(np.float32)
    h = int(rng.integers(max(1, (n0 - 1) * k + 1), n0 * k + 1))
    w = int(rng.integers(max(1, (n1 - 1) * k + 1), n1 * k + 1))
    want = resize(a, (n0 * k, n1 * k), order=1, mode="edge", anti_aliasing=False)[:h, :w]
    got = enhance._upsample_linear(a, k, (h, w))
    assert got.dtype == np.float32 and got.shape == (h, w)
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-7)


@pytest.mark.parametrize("shape", [(300, 7, 3), (5, 9), (600, 40, 3)])
def test_apply_per_pixel_is_broadcasting(shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(len(shape))
    img = rng.random(shape).astype(np.float32)
    gain = rng.random(shape[:2]).astype(np.float32)
    mask = rng.random(shape[:2]) < 0.6
    g = gain if img.ndim == 2 else gain[..., None]
    monkeypatch.setattr(enhance, "_CHUNK_ROWS", 64)  # several bands of rows
    assert np.array_equal(enhance.apply_per_pixel(img.copy(), gain), img * g)
    want = img.copy()
    want[~mask] = 0.0

    def zero(a: np.ndarray, keep: np.ndarray, out: np.ndarray) -> None:
        np.copyto(out, np.float32(0.0), where=~keep)

    assert np.array_equal(enhance.apply_per_pixel(img.copy(), mask, zero), want)
    # a strided view is changed in place too (by broadcasting)
    big = np.zeros((*shape[:2], 6) if img.ndim == 3 else (shape[0], 2 * shape[1]), np.float32)
    view = big[..., ::2]
    view[...] = img
    enhance.apply_per_pixel(view, gain)
    assert np.array_equal(view, img * g)
