"""Image-quality figures: band registration by phase correlation, framelet seams.

These measures are independent of the spin fit (which reports its own overlap
residuals): they look only at finished images.

* :func:`phase_shift` and :func:`patch_shifts` measure how far one band image sits
  from another, over the whole covered region or patch by patch (a colour fringe
  is a local misregistration, so the patch figure is the one that shows fringes);
* :func:`covered_box` finds a rectangle fully inside a coverage mask;
* :func:`framelet_edge_distance` and :func:`seam_figure` compare an image's error
  near framelet boundaries with its error elsewhere.

Shifts follow :func:`skimage.registration.phase_cross_correlation`: the
``(d_row, d_col)`` that, applied to ``moving``, registers it with ``reference``.
The correlation is the plain (not phase-normalised) cross-power spectrum of
mean-removed, Tukey-windowed images, which is robust to noise; the peak is refined
by upsampling.

Examples
--------
>>> import numpy as np
>>> from scipy import ndimage
>>> rng = np.random.default_rng(0)
>>> img = ndimage.gaussian_filter(rng.standard_normal((200, 200)), 3)
>>> moved = ndimage.shift(img, (0.3, -1.2), order=3)
>>> [round(v, 1) for v in phase_shift(img, moved)]
[-0.3, 1.2]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .camera import CameraModel
from .enhance import channel_range
from .metadata import FRAMELET_LINES, Filter
from .spin import SpinModel

__all__ = [
    "row_banding",
    "band_errors",
    "missing_band_share",
    "PatchShifts",
    "SeamFigure",
    "covered_box",
    "framelet_edge_distance",
    "noise_sigma",
    "patch_shifts",
    "phase_shift",
    "seam_figure",
]


def _tukey(shape: tuple[int, int], alpha: float) -> np.ndarray:
    from skimage.filters import window

    return window(("tukey", alpha), shape).astype(np.float64)


def phase_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    upsample: int = 50,
    taper: float = 0.3,
) -> tuple[float, float]:
    """Sub-pixel shift registering ``moving`` with ``reference`` (whole arrays).

    Parameters
    ----------
    reference, moving : numpy.ndarray
        2-D images of the same shape (finite values).
    upsample : int
        Upsampling factor of the correlation peak (precision ``1 / upsample`` px).
    taper : float
        Tukey window fraction applied after removing the mean, so the array edges
        do not correlate.

    Returns
    -------
    (float, float)
        ``(d_row, d_col)`` in pixels.

    Examples
    --------
    >>> img = np.zeros((64, 64)); img[20:30, 25:40] = 1.0
    >>> phase_shift(img, np.roll(img, 3, axis=1))
    (0.0, -3.0)
    """
    from skimage.registration import phase_cross_correlation

    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two 2-D images of one shape, got {a.shape} and {b.shape}")
    w = _tukey(a.shape, taper)
    shift, _, _ = phase_cross_correlation(
        (a - a.mean()) * w, (b - b.mean()) * w, upsample_factor=upsample, normalization=None
    )
    return float(shift[0]) + 0.0, float(shift[1]) + 0.0


def covered_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """A large axis-aligned rectangle lying entirely inside ``mask``.

    Starts from the bounding box of the mask and peels off whichever border row or
    column has the most uncovered pixels until none is left (greedy, not always
    the very largest rectangle).

    Returns
    -------
    (slice, slice) or None
        Rows and columns of the rectangle; None when the mask is empty.

    Examples
    --------
    >>> m = np.zeros((6, 8), bool); m[1:5, 2:7] = True; m[1, 2] = False
    >>> covered_box(m)
    (slice(1, 5, None), slice(3, 7, None))
    """
    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    while r1 > r0 and c1 > c0:
        box = m[r0:r1, c0:c1]
        if box.all():
            return slice(r0, r1), slice(c0, c1)
        holes = [
            int((~box[0]).sum()) / box.shape[1],
            int((~box[-1]).sum()) / box.shape[1],
            int((~box[:, 0]).sum()) / box.shape[0],
            int((~box[:, -1]).sum()) / box.shape[0],
        ]
        side = int(np.argmax(holes))
        if side == 0:
            r0 += 1
        elif side == 1:
            r1 -= 1
        elif side == 2:
            c0 += 1
        else:
            c1 -= 1
    return None


def noise_sigma(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Robust estimate of the pixel noise from neighbour differences along rows.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(noise_sigma(rng.normal(0, 2.0, (300, 300))), 1)
    2.0
    """
    img = np.asarray(image, dtype=np.float64)
    d = img[:, 1:] - img[:, :-1]
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        d = d[m[:, 1:] & m[:, :-1]]
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


@dataclass(frozen=True)
class PatchShifts:
    """Shifts measured patch by patch between two band images.

    Attributes
    ----------
    centers : numpy.ndarray
        (n, 2) patch centres (row, col) in pixels.
    shifts : numpy.ndarray
        (n, 2) ``(d_row, d_col)`` registering the moving band with the reference.
    patch : int
        Patch size in pixels.
    """

    centers: np.ndarray
    shifts: np.ndarray
    patch: int

    @property
    def n(self) -> int:
        """Number of patches measured."""
        return int(self.shifts.shape[0])

    @property
    def magnitudes(self) -> np.ndarray:
        """Length of each shift vector (pixels)."""
        return np.hypot(self.shifts[:, 0], self.shifts[:, 1])

    @property
    def rms(self) -> float:
        """RMS length of the shift vectors (pixels); NaN without patches."""
        return float(np.sqrt(np.mean(self.magnitudes**2))) if self.n else float("nan")

    @property
    def median(self) -> float:
        """Median length of the shift vectors (pixels); NaN without patches."""
        return float(np.median(self.magnitudes)) if self.n else float("nan")

    @property
    def max(self) -> float:
        """Largest shift length (pixels); NaN without patches."""
        return float(self.magnitudes.max()) if self.n else float("nan")

    @property
    def mean(self) -> tuple[float, float]:
        """Mean shift vector (the global part of the misregistration)."""
        if not self.n:
            return float("nan"), float("nan")
        m = self.shifts.mean(axis=0)
        return float(m[0]), float(m[1])


def patch_shifts(
    reference: np.ndarray,
    moving: np.ndarray,
    mask: np.ndarray,
    *,
    patch: int = 128,
    step: int | None = None,
    upsample: int = 50,
    min_contrast: float = 3.0,
    min_correlation: float = 0.5,
) -> PatchShifts:
    """Local misregistration: phase-correlate two band images patch by patch.

    Only patches lying entirely inside ``mask`` are considered. Each patch's smooth
    background (Gaussian, sigma ``patch / 8``: limb darkening, illumination) is
    removed, so the correlation follows texture rather than brightness gradients
    that differ from band to band. A patch is measured when, in both images, the
    remaining texture (robust standard deviation, so that a few hot pixels or
    particle hits on black sky do not count) stands ``min_contrast`` times above
    the patch's own :func:`noise_sigma`, and kept when, after the measured shift (to the nearest
    pixel), the two textures correlate with a coefficient of at least
    ``min_correlation`` (so noise-only and unlike patches do not count).

    Parameters
    ----------
    reference, moving : numpy.ndarray
        2-D band images of one shape (e.g. stitched bands on one grid).
    mask : numpy.ndarray
        Boolean, pixels usable in both images (covered, finite, not saturated).
    patch : int
        Patch size (pixels).
    step : int, optional
        Patch spacing; default ``patch`` (no overlap).
    upsample : int
        Correlation peak upsampling factor.
    min_contrast : float
        Texture threshold in units of the local noise.
    min_correlation : float
        Least correlation coefficient of the two textures once registered.

    Returns
    -------
    PatchShifts

    Examples
    --------
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> img = ndimage.gaussian_filter(rng.standard_normal((300, 300)), 2)
    >>> ps = patch_shifts(img, ndimage.shift(img, (0.0, 0.5), order=3),
    ...                   np.ones(img.shape, bool), patch=96)
    >>> ps.n, round(ps.mean[1], 1)
    (9, -0.5)
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    m = np.asarray(mask, dtype=bool) & np.isfinite(a) & np.isfinite(b)
    step = patch if step is None else int(step)
    h, w = a.shape
    # fraction of usable pixels in every patch-sized window, to skip holes fast
    full = ndimage.uniform_filter(m.astype(np.float32), size=patch, mode="constant")
    centers: list[tuple[float, float]] = []
    shifts: list[tuple[float, float]] = []
    for r in range(0, h - patch + 1, step):
        for c in range(0, w - patch + 1, step):
            if full[r + patch // 2, c + patch // 2] < 0.999:
                continue
            if not m[r : r + patch, c : c + patch].all():
                continue
            pa = a[r : r + patch, c : c + patch]
            pb = b[r : r + patch, c : c + patch]
            ta, tb = _highpass(pa), _highpass(pb)
            if not (
                _robust_std(ta) >= min_contrast * noise_sigma(pa)
                and _robust_std(tb) >= min_contrast * noise_sigma(pb)
            ):
                continue
            shift = phase_shift(ta, tb, upsample=upsample, taper=0.5)
            if _registered_correlation(ta, tb, shift) < min_correlation:
                continue
            centers.append((r + (patch - 1) / 2.0, c + (patch - 1) / 2.0))
            shifts.append(shift)
    return PatchShifts(
        centers=np.asarray(centers, dtype=np.float64).reshape(-1, 2),
        shifts=np.asarray(shifts, dtype=np.float64).reshape(-1, 2),
        patch=patch,
    )


def _highpass(p: np.ndarray) -> np.ndarray:
    """A patch minus its smooth background (Gaussian, sigma a eighth of its size)."""
    return p - ndimage.gaussian_filter(p, max(p.shape[0] / 8.0, 1.0))


def _robust_std(x: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (ignores sparse specks)."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _registered_correlation(a: np.ndarray, b: np.ndarray, shift: tuple[float, float]) -> float:
    """Correlation coefficient of ``a`` and ``b`` moved by ``shift`` (whole pixels)."""
    dr, dc = (int(round(v)) for v in shift)
    h, w = a.shape
    if abs(dr) >= h // 2 or abs(dc) >= w // 2:
        return 0.0
    # b moved by (dr, dc) registers with a: a[y, x] ~ b[y - dr, x - dc]
    ya, yb = (slice(dr, h), slice(0, h - dr)) if dr >= 0 else (slice(0, h + dr), slice(-dr, h))
    xa, xb = (slice(dc, w), slice(0, w - dc)) if dc >= 0 else (slice(0, w + dc), slice(-dc, w))
    u = a[ya, xa].ravel()
    v = b[yb, xb].ravel()
    su, sv = u.std(), v.std()
    if su == 0 or sv == 0:
        return 0.0
    return float(np.mean((u - u.mean()) * (v - v.mean())) / (su * sv))


def framelet_edge_distance(
    grid: object,
    camera: CameraModel,
    spin: SpinModel,
    band: Filter | str,
    n_exposures: int,
    framelet_lines: int = FRAMELET_LINES,
    chunk_rows: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """How far each output pixel lies from the nearest framelet edge line.

    Every framelet of ``band`` is projected onto the grid with the camera and spin
    models; for each output pixel the distance (in framelet lines) to the first or
    last line of each framelet covering it is taken, and the smallest kept.

    Parameters
    ----------
    grid : CylinderGrid or PerspectiveGrid
        The output grid (anything with ``shape`` and ``rays``).
    camera, spin : CameraModel, SpinModel
        The geometry the image was stitched with.
    band : Filter or str
    n_exposures : int
    framelet_lines : int
    chunk_rows : int
        Rows processed at a time (memory bound).

    Returns
    -------
    distance : numpy.ndarray
        float32, the grid's shape; ``inf`` where no framelet covers the pixel.
    count : numpy.ndarray
        int16, how many framelets of ``band`` cover each pixel.

    Examples
    --------
    >>> from junocam.stitch import PerspectiveGrid
    >>> g = PerspectiveGrid.looking_at([0, 0.04, 1], fov_deg=5.0, size=(40, 40))
    >>> d, n = framelet_edge_distance(g, CameraModel(), SpinModel(0.078), "GREEN", 1)
    >>> int(n.max()), bool(np.isfinite(d).any())
    (1, True)
    """
    h, w = grid.shape  # type: ignore[attr-defined]
    s0, s1 = camera.sample_range
    last = framelet_lines - 1.0
    distance = np.full((h, w), np.inf, np.float32)
    count = np.zeros((h, w), np.int16)
    rots = [spin.rotation(i) for i in range(n_exposures)]
    for r0 in range(0, h, chunk_rows):
        rows = slice(r0, min(r0 + chunk_rows, h))
        rays = grid.rays(rows, slice(None))  # type: ignore[attr-defined]
        for rot in rots:
            s, ln = camera.ray_to_pixel(rays @ rot, band)
            with np.errstate(invalid="ignore"):
                inside = (s >= s0) & (s <= s1) & (ln >= 0.0) & (ln <= last)
            edge = np.where(inside, np.minimum(ln, last - ln), np.inf).astype(np.float32)
            np.minimum(distance[rows], edge, out=distance[rows])
            count[rows] += inside
    return distance, count


@dataclass(frozen=True)
class SeamFigure:
    """RMS error near framelet boundaries versus elsewhere.

    Attributes
    ----------
    near_rms, far_rms : float
        RMS of the error within ``near`` lines of an inner framelet edge, and more
        than ``far`` lines from every edge.
    n_near, n_far : int
        Pixels in each set.
    """

    near_rms: float
    far_rms: float
    n_near: int
    n_far: int

    @property
    def ratio(self) -> float:
        """``near_rms / far_rms``: about 1 or below for a seamless image."""
        return self.near_rms / self.far_rms if self.far_rms > 0 else float("nan")


def seam_figure(
    error: np.ndarray,
    edge_distance: np.ndarray,
    mask: np.ndarray,
    *,
    near: float = 2.0,
    far: float = 8.0,
    border: int = 3,
) -> SeamFigure:
    """Compare an error image near framelet boundaries with elsewhere.

    Pixels within ``border`` pixels of the edge of ``mask`` are left out, so the
    outer edge of the whole frame (which is no seam) does not count as a boundary.

    Parameters
    ----------
    error : numpy.ndarray
        Per-pixel error (e.g. stitched minus truth).
    edge_distance : numpy.ndarray
        From :func:`framelet_edge_distance`.
    mask : numpy.ndarray
        Pixels to use (covered, and e.g. not on a limb).
    near, far : float
        Line distances defining the two sets.
    border : int
        Erosion of ``mask`` in pixels.

    Returns
    -------
    SeamFigure

    Examples
    --------
    >>> err = np.ones((20, 20)); d = np.tile(np.arange(20.0), (20, 1))
    >>> fig = seam_figure(err, d, np.ones((20, 20), bool), border=0)
    >>> fig.n_near, fig.n_far, round(fig.ratio, 3)
    (60, 220, 1.0)
    """
    err = np.asarray(error, dtype=np.float64)
    inner = np.asarray(mask, dtype=bool) & np.isfinite(err)
    if border > 0:
        inner = ndimage.binary_erosion(inner, iterations=border)
    d = np.asarray(edge_distance)
    sel_near = inner & (d <= near)
    sel_far = inner & (d > far) & np.isfinite(d)

    def rms(sel: np.ndarray) -> float:
        return float(np.sqrt(np.mean(err[sel] ** 2))) if sel.any() else float("nan")

    return SeamFigure(rms(sel_near), rms(sel_far), int(sel_near.sum()), int(sel_far.sum()))


def missing_band_share(rgb: np.ndarray, *, bright: float = 0.1, ratio: float = 0.08) -> float:
    """Share of bright pixels that show a missing band's colour (a fraction, 0..1).

    A pixel is bright when its strongest channel is at least ``bright`` (of [0, 1]),
    and shows a missing band's colour when its weakest channel is under ``ratio`` of
    its strongest: the pure red, cyan or yellow of a place only one or two filters
    saw (a coverage edge, a band's saturation spill, a limb rim). The figure of
    issue 15; the built-in recipes keep it at or under 0.001 on the real frames.

    Parameters
    ----------
    rgb : numpy.ndarray
        (H, W, 3) or (H, W, 4) in [0, 1] (alpha, if any, is ignored); integers are
        scaled by their type's maximum.

    Examples
    --------
    >>> img = np.full((10, 10, 3), 0.5, np.float32); img[0, :5] = (0.9, 0.02, 0.02)
    >>> missing_band_share(img)
    0.05
    """
    a = np.asarray(rgb)
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / np.float32(np.iinfo(a.dtype).max)
    strongest, weakest = channel_range(a[..., :3].astype(np.float32, copy=False))
    lit = strongest >= bright
    n = int(lit.sum())
    return float((lit & (weakest < ratio * strongest)).sum() / n) if n else 0.0


def band_errors(
    bands: Mapping[Filter, np.ndarray],
    truth: Mapping[Filter, np.ndarray],
    disc: np.ndarray,
    sky: np.ndarray,
) -> dict[str, dict[str, float]]:
    """How far processed band images are from the truth, per band (gain-matched).

    Each band is first scaled by the least-squares gain that matches it to the
    truth on ``disc`` (a lost sensitivity or another white point is not an error);
    then the RMS error on the disc and the mean level left in the sky are given as
    fractions of the truth's mean on the disc, with the share of disc pixels off by
    more than 20% (spikes: hot pixels, particle hits).

    Examples
    --------
    >>> disc = np.zeros((10, 10), bool); disc[:, :5] = True
    >>> t = {Filter.GREEN: np.where(disc, 100.0, 0.0)}
    >>> b = {Filter.GREEN: t[Filter.GREEN] * 0.5 + 5.0}      # half the signal, a veil of 5
    >>> b[Filter.GREEN][0, 0] = 500.0                          # a hit
    >>> e = band_errors(b, t, disc, ~disc)["GREEN"]
    >>> round(e["gain"], 3), round(e["sky"], 3), round(e["spikes"], 3)
    (1.818, 0.091, 0.02)
    """
    out: dict[str, dict[str, float]] = {}
    for band, ref in truth.items():
        if band not in bands:
            continue
        x = np.asarray(bands[band], np.float64)
        y = np.asarray(ref, np.float64)
        xd, yd = x[disc], y[disc]
        gain = float(np.median(yd / np.maximum(xd, 1e-9))) if xd.size else 1.0
        scale = float(yd.mean()) if yd.size else 1.0
        err = gain * xd - yd
        out[band.value] = {
            "gain": gain,
            "rms": float(np.sqrt(np.mean(err**2))) / scale,
            "sky": float(np.mean(gain * x[sky] - y[sky])) / scale if sky.any() else 0.0,
            "spikes": float(np.mean(np.abs(err) > 0.2 * scale)),
        }
    return out


def row_banding(image: np.ndarray, mask: np.ndarray, min_cover: float = 0.5) -> float:
    """How visible horizontal banding is: line-to-line jumps of the row profile.

    The profile is each row's median over the columns that are covered in at
    least ``min_cover`` of the rows; its second difference isolates what changes
    from one row to the next (stripes, steps at framelet joins) from the scene's
    slow variation; the figure is that second difference's RMS relative to the
    profile's median (so 0.01 means jumps of about 1% of the level). For
    single-band frames, whose framelet joins nothing else covers.

    Examples
    --------
    >>> smooth = np.tile(np.linspace(0.2, 0.8, 100)[:, None], (1, 50))
    >>> striped = smooth + np.where(np.arange(100) % 2, 0.02, 0.0)[:, None]
    >>> m = np.ones((100, 50), bool)
    >>> round(row_banding(smooth, m), 4), round(row_banding(striped, m), 3)
    (0.0, 0.078)
    """
    a = np.asarray(image, np.float64)
    if a.ndim == 3:
        a = a.mean(axis=2)
    cols = mask.mean(axis=0) >= min_cover
    rows = mask[:, cols].all(axis=1)
    if not cols.any() or int(rows.sum()) < 5:
        return 0.0
    prof = np.median(a[np.ix_(rows, cols)], axis=1)
    level = float(np.median(prof))
    if level <= 0:
        return 0.0
    return float(np.sqrt(np.mean(np.diff(prof, n=2) ** 2)) / level)
