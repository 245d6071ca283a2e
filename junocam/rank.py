"""Exact order statistics, percentiles and medians of large float arrays, fast.

:func:`numpy.partition` of a whole array costs about 30 ns a value. The statistics
the clean-up and colour stages need (a median, two percentiles) sit at known ranks,
so a sorted strided sample of the values brackets each rank by two values; one
comparison pass counts the values below the bracket and picks out the few inside
it, and a partition of those few gives the exact order statistic. When a bracket
misses its rank (values arranged against the sample's stride) the whole array is
partitioned: the results are always exactly numpy's, only the time differs.
:func:`percentile` reproduces :func:`numpy.percentile` (``method="linear"``) bit for
bit and :func:`median` :func:`numpy.median` (``tests/test_rank.py``).

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).random(300_001).astype(np.float32)
>>> bool(median(x) == np.median(x))
True
>>> bool(np.array_equal(percentile(x, [0.5, 99.7]), np.percentile(x, [0.5, 99.7])))
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

__all__ = [
    "all_finite",
    "order_statistics",
    "percentile",
    "median",
    "masked_percentile",
    "masked_order_statistics",
    "chunked_order_statistics",
    "masked_chunks",
    "masked_sample",
]

#: Below this many values a plain partition is as fast as the bracketing.
_SMALL = 100_000
#: About this many values in the sorted sample that brackets the ranks.
_SAMPLE = 50_000


def all_finite(values: np.ndarray) -> bool:
    """Whether a float array has no NaN or infinity, without a full-size mask: both
    show in its minimum or maximum (NaN in both). An empty array is finite.

    Examples
    --------
    >>> all_finite(np.array([0.0, 1.0])), all_finite(np.array([0.0, np.nan]))
    (True, False)
    """
    a = np.asarray(values)
    return a.size == 0 or bool(np.isfinite(np.min(a)) and np.isfinite(np.max(a)))


def _brackets(ks: list[int], n: int, m: int) -> list[list[int]]:
    """Each rank's bracket ``[lo, hi, rank, ...]`` of positions in a sorted sample of
    ``m`` of the ``n`` values.

    A rank's position in the sample varies by about sqrt(m p (1 - p)) (binomial); six
    of those plus a few make a miss rare. Brackets that overlap are merged: one
    selection serves them all.
    """
    spans: list[list[int]] = []
    for k in sorted(set(ks)):
        p = k / max(n - 1, 1)
        j = int(p * (m - 1))
        margin = int(6 * np.sqrt(m * p * (1 - p))) + 16
        lo, hi = max(j - margin, 0), min(j + margin, m - 1)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
            spans[-1].append(k)
        else:
            spans.append([lo, hi, k])
    return spans


def order_statistics(values: np.ndarray, ranks: Sequence[int]) -> np.ndarray:
    """The ``ranks``-th smallest of ``values`` (0-based), exactly.

    Parameters
    ----------
    values : numpy.ndarray
        Any shape; read as one flat array, not changed. Must be free of NaN (NaN
        breaks the bracketing comparisons; callers check).
    ranks : sequence of int
        Ranks in ``[0, values.size)``.

    Returns
    -------
    numpy.ndarray
        The order statistics, in the order of ``ranks``, in the dtype of ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> order_statistics(np.array([5.0, 1.0, 4.0, 2.0]), [0, 3]).tolist()
    [1.0, 5.0]
    """
    v = np.asarray(values).reshape(-1)
    n = v.size
    ks = [int(k) for k in ranks]
    if any(not 0 <= k < n for k in ks):
        raise ValueError(f"ranks must be in [0, {n}), got {ks}")
    out = np.empty(len(ks), v.dtype)
    if n < _SMALL:
        part = np.partition(v, sorted(set(ks)))
        out[:] = part[ks]
        return out
    stride = max(1, n // _SAMPLE)
    sample = np.sort(v[::stride])
    m = sample.size
    spans = _brackets(ks, n, m)
    found: dict[int, object] = {}
    for lo_i, hi_i, *group in spans:
        has_lo, has_hi = lo_i > 0, hi_i < m - 1
        lo, hi = sample[lo_i], sample[hi_i]
        below = int(np.count_nonzero(v < lo)) if has_lo else 0
        sel = (v >= lo) if has_lo else None
        if has_hi:
            sel = (v <= hi) if sel is None else np.logical_and(sel, v <= hi, out=sel)
        inside = v if sel is None else v[sel]
        rs = [k - below for k in group]
        if all(0 <= r < inside.size for r in rs):
            part = np.partition(inside, rs)
            found.update((k, part[r]) for k, r in zip(group, rs, strict=True))
        else:  # the bracket missed (adversarial order): the whole array
            part = np.partition(v, group)
            found.update((k, part[k]) for k in group)
    out[:] = [found[k] for k in ks]
    return out


def percentile(values: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``numpy.percentile(values, q)`` (linear interpolation), bit for bit.

    Parameters
    ----------
    values : numpy.ndarray
        Float values free of NaN, any shape (read flat, not changed), non-empty.
    q : sequence of float
        Percentiles in [0, 100].

    Returns
    -------
    numpy.ndarray
        float64 (for float32 or float64 values), one per ``q``.

    Examples
    --------
    >>> import numpy as np
    >>> percentile(np.arange(11, dtype=np.float32), [0, 25, 100]).tolist()
    [0.0, 2.5, 10.0]
    """
    v = np.asarray(values).reshape(-1)
    return _percentile(v.size, q, lambda ranks: order_statistics(v, ranks))


def _percentile(
    n: int, q: Sequence[float], stats_of: Callable[[list[int]], np.ndarray]
) -> np.ndarray:
    """numpy's linear percentiles of ``n`` values from their order statistics."""
    if n == 0:
        raise ValueError("percentile of an empty array")
    qs = np.true_divide(np.asarray(q, dtype=np.float64), 100)
    if qs.ndim != 1 or np.any(qs < 0) or np.any(qs > 1):
        raise ValueError(f"percentiles must be a list of numbers in [0, 100], got {q!r}")
    # numpy's steps for method="linear": virtual index (n - 1) q, its floor and the
    # next index (both the last one at or past the end), the fraction between them
    virtual = (n - 1) * qs
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = -1
    nxt[above] = -1
    gamma = virtual - prev
    pi = prev.astype(np.intp) % n
    ni = nxt.astype(np.intp) % n
    stats = stats_of(np.concatenate([pi, ni]).tolist())
    a, b = stats[: qs.size], stats[qs.size :]
    diff = b - a
    res = np.add(a, diff * gamma)
    big = gamma >= 0.5
    res[big] = (b - diff * (1 - gamma))[big]
    return res


def median(values: np.ndarray) -> float:
    """``numpy.median(values)`` of NaN-free float values, exactly, as a float.

    Examples
    --------
    >>> import numpy as np
    >>> median(np.array([3.0, 1.0, 2.0, 10.0], np.float32))
    2.5
    """
    v = np.asarray(values).reshape(-1)
    n = v.size
    if n == 0:
        raise ValueError("median of an empty array")
    if n % 2:
        return float(order_statistics(v, [n // 2])[0])
    # numpy takes the mean of the two middle values in the array's dtype
    return float(np.mean(order_statistics(v, [n // 2 - 1, n // 2])))


#: Rows of an image per band of :func:`masked_order_statistics`' passes.
_BAND_ROWS = 256


def masked_percentile(values: np.ndarray, mask: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``numpy.percentile(values[mask], q)`` (linear), bit for bit, without the copy of
    ``values[mask]``.

    Parameters
    ----------
    values : numpy.ndarray
        (H, W) or (H, W, C) float values free of NaN; every channel of a pixel in
        ``mask`` counts.
    mask : numpy.ndarray
        Bool (H, W).
    q : sequence of float
        Percentiles in [0, 100].

    Returns
    -------
    numpy.ndarray
        float64, one per ``q``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    >>> m = np.array([[True, False], [True, True], [False, False], [True, False]])
    >>> bool(np.array_equal(masked_percentile(img, m, [10, 50]), np.percentile(img[m], [10, 50])))
    True
    """
    v, m = _masked_pair(values, mask)
    n = int(np.count_nonzero(m)) * (v.shape[2] if v.ndim == 3 else 1)
    return _percentile(n, q, lambda ranks: masked_order_statistics(v, m, ranks))


def _masked_pair(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v, m = np.asarray(values), np.asarray(mask, bool)
    if v.ndim not in (2, 3) or m.shape != v.shape[:2]:
        raise ValueError(f"values (H, W[, C]) and mask (H, W) do not fit: {v.shape}, {m.shape}")
    return v, m


def masked_order_statistics(
    values: np.ndarray, mask: np.ndarray, ranks: Sequence[int]
) -> np.ndarray:
    """``order_statistics(values[mask], ranks)``, exactly, a band of rows at a time.

    The bracketing of :func:`order_statistics` with a sample of every few rows and
    columns (see :func:`chunked_order_statistics`): only bands of rows are ever
    gathered or compared, so nothing of the image's size is made.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).random((600, 500)).astype(np.float32)
    >>> m = x > 0.25
    >>> got = masked_order_statistics(x, m, [0, 1000, 200_000])
    >>> bool(np.array_equal(got, np.sort(x[m])[[0, 1000, 200_000]]))
    True
    """
    v, m = _masked_pair(values, mask)
    channels = v.shape[2] if v.ndim == 3 else 1
    n = int(np.count_nonzero(m)) * channels
    return chunked_order_statistics(lambda: masked_chunks(v, m), n, ranks, masked_sample(v, m, n))


def masked_chunks(values: np.ndarray, mask: np.ndarray) -> Iterator[np.ndarray]:
    """``values[mask]`` (every channel of a masked pixel) as 1-D pieces, a band of
    rows at a time.

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in masked_chunks(np.arange(4.0).reshape(2, 2), np.eye(2, dtype=bool))]
    [[0.0, 3.0]]
    """
    v, m = _masked_pair(values, mask)
    h = v.shape[0]
    for r in range(0, h, _BAND_ROWS):
        rs = slice(r, min(r + _BAND_ROWS, h))
        where = m[rs] if v.ndim == 2 else np.repeat(m[rs][..., None], v.shape[2], axis=2)
        yield v[rs][where]


def masked_sample(values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """About :data:`_SAMPLE` of the ``n`` values ``values[mask]``: those of every few
    rows and columns (a grid, not a gathering of every masked value).

    Examples
    --------
    >>> import numpy as np
    >>> masked_sample(np.arange(6.0).reshape(2, 3), np.ones((2, 3), bool), 6).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    v, m = _masked_pair(values, mask)
    stride = max(1, n // _SAMPLE)
    step = max(1, int(np.sqrt(stride)))
    cstep = max(1, stride // step)
    return v[::step, ::cstep][m[::step, ::cstep]].reshape(-1)


def chunked_order_statistics(
    chunks: Callable[[], Iterable[np.ndarray]],
    n: int,
    ranks: Sequence[int],
    sample: np.ndarray,
) -> np.ndarray:
    """The ``ranks``-th smallest (0-based) of the ``n`` values ``chunks()`` yields,
    exactly, without holding them all.

    ``chunks()`` yields the values as 1-D pieces (NaN-free) and may be called several
    times. ``sample`` (some of the values, or values like them) brackets each rank as
    in :func:`order_statistics`; each bracket takes one pass over the pieces, which
    counts the values below it and keeps those inside it. A bracket that misses its
    rank (a sample unlike the values) takes all the values: the result is exact
    either way, only the time and memory differ.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(2).random(250_000)
    >>> pieces = lambda: (x[i : i + 1000] for i in range(0, x.size, 1000))
    >>> got = chunked_order_statistics(pieces, x.size, [5, 125_000], x[::7])
    >>> bool(np.array_equal(got, np.sort(x)[[5, 125_000]]))
    True
    """
    ks = [int(k) for k in ranks]
    if any(not 0 <= k < n for k in ks):
        raise ValueError(f"ranks must be in [0, {n}), got {ks}")

    def everything() -> np.ndarray:
        return np.concatenate([np.asarray(c).reshape(-1) for c in chunks()])

    sample = np.sort(np.asarray(sample).reshape(-1))
    if n < _SMALL or sample.size < 2:
        allv = everything()
        out = np.empty(len(ks), allv.dtype)
        out[:] = np.partition(allv, sorted(set(ks)))[ks]
        return out
    msz = sample.size
    spans = _brackets(ks, n, msz)
    found: dict[int, object] = {}
    dtype = None
    for lo_i, hi_i, *group in spans:
        has_lo, has_hi = lo_i > 0, hi_i < msz - 1
        lo, hi = sample[lo_i], sample[hi_i]
        # the values from lo to hi in order: n_lo copies of lo, those strictly between
        # (kept), n_hi copies of hi; ties are counted, not kept (a sky of one value)
        below = n_lo = n_hi = 0
        parts = []
        for c in chunks():
            c = np.asarray(c).reshape(-1)
            dtype = c.dtype
            sel = None
            if has_lo:
                below += int(np.count_nonzero(c < lo))
                n_lo += int(np.count_nonzero(c == lo))
                sel = c > lo
            if has_hi:
                if not (has_lo and hi == lo):
                    n_hi += int(np.count_nonzero(c == hi))
                sel = (c < hi) if sel is None else np.logical_and(sel, c < hi, out=sel)
            parts.append(c if sel is None else c[sel])
        inside = np.concatenate(parts) if parts else np.empty(0, sample.dtype)
        del parts
        order = [k - below for k in group]
        if not all(0 <= r < n_lo + inside.size + n_hi for r in order):
            # the bracket missed: all the values
            part = np.partition(everything(), group)
            found.update((k, part[k]) for k in group)
            continue
        mid = sorted({r - n_lo for r in order if n_lo <= r < n_lo + inside.size})
        part = np.partition(inside, mid) if mid else inside
        for k, r in zip(group, order, strict=True):
            if r < n_lo:
                found[k] = lo
            elif r < n_lo + inside.size:
                found[k] = part[r - n_lo]
            else:
                found[k] = hi
    out = np.empty(len(ks), dtype if dtype is not None else sample.dtype)
    out[:] = [found[k] for k in ks]
    return out
