"""Mosaics: several frames on one map grid, matched in brightness and blended by quality.

Frames are projected one at a time (:func:`junocam.planet.projection.project_frame`) and added
to a :class:`MosaicAccumulator`, which keeps only running sums: memory does not grow
with the number of frames. Each frame's pixels are weighted by their quality: the
cosine of the emission angle to a power (oblique views are blurred and
foreshortened), the ground resolution, and a feather that fades a frame out towards
the edge of its footprint so seams do not show.

Neighbouring frames differ in exposure, lighting and calibration. :func:`fit_gains`
finds one gain per frame and band from the ratios of overlapping pixels (least
squares on the logarithms, the first frame fixed at 1), on coarse versions of the
maps, before the full-resolution pass.

Examples
--------
>>> import numpy as np
>>> from junocam.planet.projection import MapGrid
>>> from junocam.metadata import Filter
>>> acc = MosaicAccumulator(MapGrid("equirectangular", 1.0, (2, 3)), (Filter.GREEN,))
>>> acc.shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import GeometryError
from ..metadata import Filter
from ..planet.photometry import Backplanes
from ..planet.projection import MapGrid, MapResult

__all__ = ["MosaicAccumulator", "Mosaic", "quality_weight", "fit_gains"]


def quality_weight(
    result: MapResult,
    band: Filter,
    *,
    emission_power: float = 2.0,
    feather_px: float = 20.0,
    resolution_power: float = 2.0,
) -> np.ndarray:
    """Blending weight of a projected frame's pixels (0 where unseen).

    ``cos(emission)**emission_power`` times ``range**-resolution_power`` (a frame
    seen from twice as close has pixels a quarter the area: it counts four times
    as much) times a smooth ramp from 0 at the edge of the frame's footprint to 1
    at ``feather_px`` map pixels inside. Only ratios between frames matter.

    Examples
    --------
    Three map pixels: seen from straight above, at 60 degrees of emission, and from
    straight above at half the distance (no feather on so small a map):

    >>> grid = MapGrid("equirectangular", 1.0, (1, 3))
    >>> emission = np.array([[0.0, 60.0, 0.0]], np.float32)
    >>> planes = Backplanes(emission, emission, emission, emission, emission)
    >>> result = MapResult(grid, {Filter.GREEN: np.ones((1, 3), np.float32)},
    ...                    {Filter.GREEN: np.ones((1, 3), bool)}, planes,
    ...                    np.zeros((1, 3), np.int16), np.array([[1.0e5, 1.0e5, 0.5e5]]))
    >>> quality_weight(result, Filter.GREEN, feather_px=0).round(3).tolist()
    [[1.0, 0.25, 4.0]]
    """
    seen = result.masks[band]
    if not seen.any():
        return np.zeros(seen.shape, np.float32)
    mu = np.cos(np.radians(np.nan_to_num(result.backplanes.emission_deg, nan=90.0)))
    w = np.clip(mu, 0.0, 1.0) ** emission_power
    if result.range_km is not None and resolution_power:
        scale = np.nan_to_num(result.range_km, nan=np.inf) / 1.0e5  # keep values near 1
        w = w * np.where(np.isfinite(scale), scale, np.inf) ** -resolution_power
    if feather_px > 0:
        inside = ndimage.distance_transform_edt(seen)
        t = np.clip(inside / feather_px, 0.0, 1.0)
        w = w * t * t * (3.0 - 2.0 * t)
    return np.where(seen, w, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Mosaic:
    """A finished mosaic.

    Attributes
    ----------
    grid : MapGrid
    bands : dict of Filter -> numpy.ndarray
        Blended float32 maps (0 where no frame saw the point).
    masks : dict of Filter -> numpy.ndarray
    coverage : numpy.ndarray of int16
        How many frames saw each pixel (any band).
    source : numpy.ndarray of int16
        Index of the frame with the largest weight at each pixel (-1: none).
    backplanes : Backplanes
        Weighted mean incidence, emission and phase; latitude and longitude.
    gains : dict of Filter -> list of float
        The gain applied to each frame (1 when not fitted).
    """

    grid: MapGrid
    bands: dict[Filter, np.ndarray]
    masks: dict[Filter, np.ndarray]
    coverage: np.ndarray
    source: np.ndarray
    backplanes: Backplanes
    gains: dict[Filter, list[float]]


class MosaicAccumulator:
    """Running weighted sums of projected frames on one grid.

    Parameters
    ----------
    grid : MapGrid
    bands : sequence of Filter
        Bands of the mosaic; frames lacking a band add nothing to it.
    emission_power, feather_px : float
        See :func:`quality_weight`.
    """

    def __init__(
        self,
        grid: MapGrid,
        bands: Sequence[Filter],
        *,
        emission_power: float = 2.0,
        feather_px: float = 20.0,
    ) -> None:
        self.grid = grid
        self.bands = tuple(bands)
        self.emission_power = emission_power
        self.feather_px = feather_px
        shape = grid.shape
        self._num = {b: np.zeros(shape, np.float64) for b in self.bands}
        self._den = {b: np.zeros(shape, np.float64) for b in self.bands}
        self._best = np.zeros(shape, np.float32)
        self._source = np.full(shape, -1, np.int16)
        self._coverage = np.zeros(shape, np.int16)
        self._cos = {k: np.zeros(shape, np.float64) for k in ("inc", "emi", "pha")}
        self._wsum = np.zeros(shape, np.float64)
        self._gains: dict[Filter, list[float]] = {b: [] for b in self.bands}
        self.n_frames = 0

    @property
    def shape(self) -> tuple[int, int]:
        """The grid's (rows, cols)."""
        return self.grid.shape

    def add(self, result: MapResult, gains: Mapping[Filter, float] | None = None) -> None:
        """Add one projected frame (its bands multiplied by ``gains``)."""
        if result.grid.shape != self.grid.shape:
            raise GeometryError(
                f"frame map {result.grid.shape} does not match the mosaic grid {self.grid.shape}"
            )
        index = self.n_frames
        seen_any = np.zeros(self.shape, bool)
        w_frame = np.zeros(self.shape, np.float32)
        for b in self.bands:
            g = float((gains or {}).get(b, 1.0))
            self._gains[b].append(g)
            if b not in result.bands:
                continue
            w = quality_weight(
                result, b, emission_power=self.emission_power, feather_px=self.feather_px
            )
            self._num[b] += w * (g * result.bands[b])
            self._den[b] += w
            seen_any |= result.masks[b]
            w_frame = np.maximum(w_frame, w)
        self._coverage += seen_any.astype(np.int16)
        better = w_frame > self._best
        self._best[better] = w_frame[better]
        self._source[better] = index
        bp = result.backplanes
        for key, plane in (
            ("inc", bp.incidence_deg),
            ("emi", bp.emission_deg),
            ("pha", bp.phase_deg),
        ):
            c = np.cos(np.radians(np.nan_to_num(plane, nan=90.0)))
            self._cos[key] += w_frame * c
        self._wsum += w_frame
        self.n_frames += 1

    def result(self) -> Mosaic:
        """The blended mosaic so far."""
        bands, masks = {}, {}
        for b in self.bands:
            have = self._den[b] > 0
            out = np.zeros(self.shape, np.float32)
            out[have] = (self._num[b][have] / self._den[b][have]).astype(np.float32)
            bands[b], masks[b] = out, have
        lat, lon = self.grid.latlon()
        seen = self._wsum > 0

        def mean_angle(key: str) -> np.ndarray:
            out = np.full(self.shape, np.nan, np.float32)
            c = self._cos[key][seen] / self._wsum[seen]
            out[seen] = np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))
            return out

        planes = Backplanes(
            lat_deg=lat.astype(np.float32),
            lon_west_deg=lon.astype(np.float32),
            incidence_deg=mean_angle("inc"),
            emission_deg=mean_angle("emi"),
            phase_deg=mean_angle("pha"),
        )
        return Mosaic(
            grid=self.grid,
            bands=bands,
            masks=masks,
            coverage=self._coverage.copy(),
            source=self._source.copy(),
            backplanes=planes,
            gains={b: list(v) for b, v in self._gains.items()},
        )


def fit_gains(
    maps: Sequence[Mapping[Filter, np.ndarray]],
    masks: Sequence[Mapping[Filter, np.ndarray]],
    band: Filter,
    *,
    min_overlap: int = 50,
    min_value: float = 1e-6,
) -> list[float]:
    """One gain per frame so their overlaps agree (first frame = 1).

    For every pair of frames that share at least ``min_overlap`` pixels the median
    log-ratio of their values is one equation ``log g_i - log g_j = -median log(a_i/a_j)``;
    the system is solved by least squares with ``log g_0 = 0``. Frames that overlap no
    other keep gain 1.

    Parameters
    ----------
    maps, masks : sequences of dict of Filter -> numpy.ndarray
        Each frame's map (same grid, e.g. a coarse one) and where it saw the planet.
    band : Filter
    min_overlap : int
    min_value : float
        Pixels at or below this are ignored (night side).

    Returns
    -------
    list of float

    Examples
    --------
    >>> a = {Filter.GREEN: np.full((10, 10), 2.0)}
    >>> b = {Filter.GREEN: np.full((10, 10), 1.0)}
    >>> m = {Filter.GREEN: np.ones((10, 10), bool)}
    >>> [round(g, 6) for g in fit_gains([a, b], [m, m], Filter.GREEN, min_overlap=10)]
    [1.0, 2.0]
    """
    n = len(maps)
    rows, rhs = [], []
    for i in range(n):
        for j in range(i + 1, n):
            if band not in maps[i] or band not in maps[j]:
                continue
            both = masks[i][band] & masks[j][band]
            both &= (maps[i][band] > min_value) & (maps[j][band] > min_value)
            if int(both.sum()) < min_overlap:
                continue
            d = float(np.median(np.log(maps[i][band][both]) - np.log(maps[j][band][both])))
            row = np.zeros(n)
            row[i], row[j] = 1.0, -1.0
            rows.append(row)
            rhs.append(-d)
    anchor = np.zeros(n)
    anchor[0] = 1.0
    rows.append(anchor)
    rhs.append(0.0)
    # frames without overlaps are tied weakly to 1
    for k in range(1, n):
        if not any(r[k] for r in rows[:-1]):
            tie = np.zeros(n)
            tie[k] = 1.0
            rows.append(tie)
            rhs.append(0.0)
    sol, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return [float(np.exp(v)) for v in sol]
