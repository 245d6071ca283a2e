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

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["order_statistics", "percentile", "median", "masked_percentile"]

#: Below this many values a plain partition is as fast as the bracketing.
_SMALL = 100_000
#: About this many values in the sorted sample that brackets the ranks.
_SAMPLE = 50_000


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
    # each rank's bracket in the sample: its position there varies by about
    # sqrt(m p (1 - p)) (binomial); six of those plus a few make a miss rare.
    # Brackets that overlap are merged: one selection serves them all.
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

    The same bracketing as :func:`order_statistics`: a sample (every few rows and
    columns) brackets each rank, one pass over the bands counts the masked values
    below a bracket and picks out those inside it, and a partition of those gives
    the exact value; a bracket that misses takes the whole gathered set. Only bands
    of rows are ever gathered or compared, so nothing of the image's size is made.

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
    ks = [int(k) for k in ranks]
    if any(not 0 <= k < n for k in ks):
        raise ValueError(f"ranks must be in [0, {n}), got {ks}")
    h = v.shape[0]
    bands = [slice(r, min(r + _BAND_ROWS, h)) for r in range(0, h, _BAND_ROWS)]

    def where(rs: slice) -> np.ndarray:
        """The band's mask over its values (a new array)."""
        if v.ndim == 2:
            return m[rs].copy()
        return np.repeat(m[rs][..., None], channels, axis=2)

    def chosen(rs: slice) -> np.ndarray:
        return v[rs][where(rs)]

    def gathered() -> np.ndarray:
        return np.concatenate([chosen(rs) for rs in bands]) if bands else v[m].reshape(-1)

    out = np.empty(len(ks), v.dtype)
    if n < _SMALL:
        part = np.partition(gathered(), sorted(set(ks)))
        out[:] = part[ks]
        return out
    # a grid of every few rows and columns: about _SAMPLE values
    stride = max(1, n // _SAMPLE)
    step = max(1, int(np.sqrt(stride)))
    cstep = max(1, stride // step)
    sub_m = m[::step, ::cstep]
    sample = np.sort(v[::step, ::cstep][sub_m].reshape(-1))
    if sample.size < 2:
        sample = np.sort(gathered())
    msz = sample.size
    spans: list[list[int]] = []
    for k in sorted(set(ks)):
        p = k / max(n - 1, 1)
        j = int(p * (msz - 1))
        margin = int(6 * np.sqrt(msz * p * (1 - p))) + 16
        lo, hi = max(j - margin, 0), min(j + margin, msz - 1)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
            spans[-1].append(k)
        else:
            spans.append([lo, hi, k])
    found: dict[int, object] = {}
    for lo_i, hi_i, *group in spans:
        has_lo, has_hi = lo_i > 0, hi_i < msz - 1
        lo, hi = sample[lo_i], sample[hi_i]
        below = 0
        parts = []
        for rs in bands:
            band, sel = v[rs], where(rs)
            if has_lo:
                under = band < lo
                np.logical_and(under, sel, out=under)
                below += int(np.count_nonzero(under))
                np.logical_xor(sel, under, out=sel)  # masked and not below: >= lo
                del under
            if has_hi:
                np.logical_and(sel, band <= hi, out=sel)
            parts.append(band[sel])
        inside = np.concatenate(parts)
        rs_ = [k - below for k in group]
        if all(0 <= r < inside.size for r in rs_):
            part = np.partition(inside, rs_)
            found.update((k, part[r]) for k, r in zip(group, rs_, strict=True))
        else:  # the bracket missed (values arranged against the sample): all of them
            part = np.partition(gathered(), group)
            found.update((k, part[k]) for k in group)
    out[:] = [found[k] for k in ks]
    return out
