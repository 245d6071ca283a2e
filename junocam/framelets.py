"""Framelets: the raw strip seen as (exposure, filter, line, sample).

A raw JunoCam product is a tall strip of framelets. Each exposure reads out one
framelet per active filter, in FILTER_NAME order, so the strip reshapes without a
copy to ``(n_exposures, n_filters, framelet_lines, 1648)``.

Detector layout facts used by later stages [IK juno_junocam_v03.ti, CAMERA.md]:
each line holds 23 dark samples, then 1608 photoactive samples, then padding.

Examples
--------
>>> import numpy as np
>>> from junocam.framelets import split
>>> from junocam.metadata import Filter
>>> strip = np.zeros((2 * 3 * 128, 1648), dtype=np.uint8)
>>> fr = split(strip, (Filter.BLUE, Filter.GREEN, Filter.RED))
>>> fr.data.shape
(2, 3, 128, 1648)
>>> fr.band(Filter.RED).shape
(2, 128, 1648)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import FormatError
from .metadata import FRAMELET_LINES, LINE_SAMPLES, Filter

__all__ = [
    "Framelets",
    "split",
    "DARK_SAMPLES",
    "PHOTOACTIVE_SAMPLES",
    "PHOTOACTIVE",
    "FRAMELET_LINES",
    "LINE_SAMPLES",
]

#: Dark (masked) samples at the start of every line [IK, CAMERA.md].
DARK_SAMPLES = 23
#: Photoactive samples after the dark ones [IK, CAMERA.md].
PHOTOACTIVE_SAMPLES = 1608
#: Slice of the photoactive samples within a 1648-sample line.
PHOTOACTIVE = slice(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES)


@dataclass(frozen=True, eq=False)
class Framelets:
    """A zero-copy view of a raw strip as framelets.

    Attributes
    ----------
    data : numpy.ndarray
        Shape ``(n_exposures, n_filters, framelet_lines, line_samples)``; a view of
        the strip it was made from, in readout order.
    filters : tuple of Filter
        Filter of each position along axis 1.
    """

    data: np.ndarray
    filters: tuple[Filter, ...]

    @property
    def n_exposures(self) -> int:
        """Number of exposures (axis 0)."""
        return int(self.data.shape[0])

    @property
    def framelet_lines(self) -> int:
        """Lines per framelet (axis 2)."""
        return int(self.data.shape[2])

    def index(self, band: Filter | str) -> int:
        """Position of ``band`` along the filter axis.

        Raises
        ------
        FormatError
            If the frame has no such band.

        Examples
        --------
        >>> fr = split(np.zeros((256, 1648), np.uint8), [Filter.RED, Filter.BLUE])
        >>> fr.index("blue")
        1
        """
        f = Filter.parse(band)
        try:
            return self.filters.index(f)
        except ValueError:
            have = ", ".join(x.value for x in self.filters)
            raise FormatError(f"frame has no {f.value} band (it has: {have})") from None

    def band(self, band: Filter | str) -> np.ndarray:
        """All framelets of one band, a view of shape (n_exposures, lines, samples).

        Examples
        --------
        >>> fr = split(np.arange(256 * 1648).reshape(256, 1648) % 7, [Filter.RED, Filter.BLUE])
        >>> np.shares_memory(fr.band(Filter.BLUE), fr.data)
        True
        """
        return self.data[:, self.index(band)]

    def photoactive(self) -> np.ndarray:
        """View of ``data`` cropped to the photoactive samples (dark columns removed)."""
        return self.data[..., PHOTOACTIVE]

    def dark_columns(self) -> np.ndarray:
        """View of the 23 dark samples of every line."""
        return self.data[..., :DARK_SAMPLES]


def split(
    strip: np.ndarray,
    filters: Sequence[Filter | str],
    framelet_lines: int = FRAMELET_LINES,
) -> Framelets:
    """View a raw strip as framelets, without copying.

    Parameters
    ----------
    strip : numpy.ndarray
        2-D array (lines, samples), any dtype; the raw product or its decompanded copy.
    filters : sequence of Filter or str
        Filters in readout order (FILTER_NAME).
    framelet_lines : int
        128, or 64 for 2x2 summed products.

    Returns
    -------
    Framelets

    Raises
    ------
    FormatError
        If the strip is not 2-D, or its height is not a whole number of
        ``framelet_lines * len(filters)`` blocks; the message names the numbers.

    Examples
    --------
    >>> split(np.zeros((128, 1648), np.uint8), ["METHANE"]).data.shape
    (1, 1, 128, 1648)
    """
    flt = tuple(Filter.parse(f) for f in filters)
    if not flt:
        raise FormatError("no filters given: cannot split the strip into framelets")
    if strip.ndim != 2:
        raise FormatError(f"expected a 2-D strip, got an array of shape {strip.shape}")
    lines, samples = strip.shape
    block = framelet_lines * len(flt)
    if lines == 0 or lines % block:
        names = "+".join(f.value for f in flt)
        raise FormatError(
            f"height {lines} lines is not a multiple of {block} "
            f"({len(flt)} filters {names} x {framelet_lines} lines per framelet)"
        )
    n_exp = lines // block
    data = strip.reshape(n_exp, len(flt), framelet_lines, samples)
    return Framelets(data=data, filters=flt)
