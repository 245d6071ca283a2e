"""Companding tables and their round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from junocam.companding import compand, decode_table, decompand, sqroot_table
from junocam.errors import FormatError

MODES = ["SQROOT", "LIN1", "LIN8", "LIN16"]


def test_sqroot_breakpoints():
    t = sqroot_table()
    assert [int(t[c]) for c in (0, 23, 43, 89, 184, 209, 255)] == [
        0,
        23,
        63,
        247,
        1007,
        1407,
        2879,
    ]
    assert np.all(np.diff(t) > 0)


@pytest.mark.parametrize("mode", MODES)
def test_every_code_round_trips(mode):
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(compand(decompand(codes, mode), mode), codes)


@given(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=8)),
    st.sampled_from(MODES),
)
def test_round_trip_property(codes, mode):
    lin = decompand(codes, mode)
    assert lin.dtype == np.float32 and lin.shape == codes.shape
    np.testing.assert_array_equal(compand(lin, mode), codes)


@given(st.floats(min_value=0, max_value=2879), st.sampled_from(MODES))
def test_compand_picks_nearest_code(value, mode):
    table = decode_table(mode)
    code = int(compand(np.array([value]), mode)[0])
    best = np.min(np.abs(table.astype(np.float64) - min(value, float(table[-1]))))
    assert abs(float(table[code]) - min(value, float(table[-1]))) == pytest.approx(best)


def test_decompand_needs_uint8():
    with pytest.raises(FormatError):
        decompand(np.zeros(3, np.uint16), "SQROOT")
    assert decompand(np.array([1000], np.uint16), "NONE")[0] == 1000.0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(3, 70_001), (300, 1648), (0, 4)])
def test_decompand_by_chunks_is_the_table_lookup(mode, shape):
    # frames span many of decompand's chunks, and end inside one
    rng = np.random.default_rng(len(mode))
    codes = rng.integers(0, 256, shape, dtype=np.uint8)
    table = decode_table(mode)
    got = decompand(codes, mode)
    assert got.dtype == np.float32 and np.array_equal(got, table[codes])
    strided = codes[:, ::3]  # a non-contiguous input
    assert np.array_equal(decompand(strided, mode), table[strided])
    buf = np.full((shape[0], shape[1] + 5), -1.0, np.float32)
    view = buf[:, 2 : 2 + shape[1]]  # a non-contiguous output
    assert decompand(codes, mode, out=view) is view
    assert np.array_equal(view, table[codes]) and (buf[:, :2] == -1).all()
    whole = np.empty(shape, np.float32)
    assert decompand(codes, mode, out=whole) is whole and np.array_equal(whole, table[codes])


@pytest.mark.parametrize("mode", MODES)
def test_decompand_into_a_bands_slot_of_the_framelets(mode):
    # the streaming engine decompands each band into its slot of one framelet array
    rng = np.random.default_rng(7)
    strip = rng.integers(0, 256, (5 * 3 * 128, 1648), dtype=np.uint8)
    codes = strip.reshape(5, 3, 128, 1648)
    data = np.full(codes.shape, -1.0, np.float32)
    for k in range(3):
        slot = data[:, k : k + 1]
        assert decompand(codes[:, k : k + 1], mode, slot) is slot
        assert np.array_equal(slot, decode_table(mode)[codes[:, k : k + 1]])
    assert (data >= 0).all()
    every_other = np.zeros(20, np.float32)[::2]  # a strided 1-D output
    assert np.array_equal(
        decompand(strip[0, :10], mode, every_other), decode_table(mode)[strip[0, :10]]
    )
    column = data[:, 0, 0, :7]  # a 2-D view with a strided last axis too
    assert np.array_equal(
        decompand(codes[:, 1, 2, :7], mode, column), decode_table(mode)[codes[:, 1, 2, :7]]
    )
