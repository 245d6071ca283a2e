"""One frame to a map: kernels, navigation, projection, recipe, files.

:func:`frame_geometry` gives a frame's per-exposure geometry: positions from the
SPK, attitude from a CK when one is loaded (its start time refined on the limb)
or else navigated from the limb and terminator with the self-calibrated spin.
:func:`map_file` then runs a recipe with the map projection in place of the
stitcher and writes the colour map, a JSON sidecar describing the grid and the
geometry, and optionally every band's linear map and the backplanes.

Examples
--------
>>> from junocam.cartography import MapOptions, map_file           # doctest: +SKIP
>>> rec = map_file("JNCE_2022186_43C00080_V01-raw.png", KernelSet.from_path("kernels"),
...                Pipeline.named("enhanced"), MapOptions(Path("maps"), "polar"))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .calibrate import Calibration
from .camera import CameraModel
from .companding import decompand
from .decode import DEFAULT_MAX_PIXELS, RawFrame, read_frame
from .errors import GeometryError, JunoCamError
from .framelets import Framelets, split
from .geometry import fit_frame_spin
from .mapping import MapGrid, MapResult, map_grid_for, project_frame
from .mosaic import Mosaic
from .navigate import Navigation, navigate
from .output import atomic_write, write_tiff16
from .pipeline import STAGES, Pipeline, PipelineResult
from .planet import Backplanes
from .pointing import ViewGeometry, view_from_ck
from .process import FORMATS, ProcessOptions, write_image
from .spice import Ephemeris, KernelSet, frame_ephemeris
from .spinfit import SpinFit

__all__ = [
    "FrameGeometry",
    "MapOptions",
    "MosaicOptions",
    "frame_geometry",
    "map_frame",
    "map_file",
    "mosaic_frames",
    "mosaic_files",
    "load_map",
]

NAVIGATION_MODES = ("auto", "limb", "ck")


@dataclass(frozen=True)
class FrameGeometry:
    """A frame's geometry and how it was obtained.

    Attributes
    ----------
    view : ViewGeometry
    ephemeris : Ephemeris
    navigation : Navigation or None
        The limb fit (None when the CK was used as is).
    fit : SpinFit or None
        The spin self-calibration used by the navigation.
    """

    view: ViewGeometry
    ephemeris: Ephemeris
    navigation: Navigation | None
    fit: SpinFit | None

    def as_dict(self) -> dict[str, Any]:
        """JSON summary for sidecars."""
        d: dict[str, Any] = {
            "attitude": "ck" if self.navigation is None or self.navigation.used_ck else "limb",
            "exposure_utc": list(self.ephemeris.utc),
        }
        if self.navigation is not None:
            d["navigation"] = self.navigation.as_dict()
        if self.fit is not None:
            d["spin_fit_message"] = self.fit.message
        return d


def linear_framelets(frame: RawFrame) -> Framelets:
    """Decompanded framelets of a frame (float32).

    Examples
    --------
    >>> import numpy as np
    >>> from junocam.metadata import assumed_meta
    >>> fr = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384))
    >>> linear_framelets(fr).data.shape
    (1, 3, 128, 1648)
    """
    return split(
        decompand(frame.pixels, frame.meta.companding),
        frame.meta.filters,
        frame.meta.framelet_lines,
    )


def frame_geometry(
    frame: RawFrame,
    kernels: KernelSet,
    *,
    mode: str = "auto",
    time_offset: float = 0.0,
    spin_fit: SpinFit | None = None,
) -> FrameGeometry:
    """Positions from SPICE and the attitude from a CK or from the limb.

    Parameters
    ----------
    frame : RawFrame
    kernels : KernelSet
    mode : {"auto", "limb", "ck"}
        ``auto``: with a CK, its attitude with the start time refined on the limb;
        without, the attitude fitted to the limb and terminator. ``ck``: the CK
        attitude as is (no fit). ``limb``: ignore any CK and fit the attitude.
    time_offset : float
        Start-time correction (s) applied before any fit.
    spin_fit : SpinFit, optional
        Reuse a spin self-calibration.

    Returns
    -------
    FrameGeometry

    Raises
    ------
    KernelError, GeometryError

    Examples
    --------
    >>> geo = frame_geometry(read_frame("f-raw.png"), KernelSet.from_path("k/"))  # doctest: +SKIP
    >>> geo.navigation.limb_rms_px                                                  # doctest: +SKIP
    0.63
    """
    if mode not in NAVIGATION_MODES:
        raise GeometryError(f"unknown navigation mode {mode!r}; choose one of {NAVIGATION_MODES}")
    eph = frame_ephemeris(frame.meta, kernels, time_offset=time_offset, use_ck=mode != "limb")
    if mode == "ck":
        if not eph.has_attitude:
            raise GeometryError("--navigate ck needs a CK (and the Juno frames kernel)")
        return FrameGeometry(view_from_ck(eph), eph, None, None)
    framelets = linear_framelets(frame)
    fit = spin_fit or fit_frame_spin(framelets, frame.meta.interframe_delay)
    camera = fit.camera or CameraModel()
    nav = navigate(framelets, eph, fit.spin, camera)
    return FrameGeometry(nav.view, eph, nav, fit)


@dataclass(frozen=True)
class MapOptions:
    """Where and how :func:`map_file` writes.

    Parameters
    ----------
    out_dir : Path
    projection : str
        ``equirectangular``, ``polar`` or ``orthographic``.
    resolution : float, optional
        Degrees per pixel (default: the frame's finest ground pixel).
    fmt : str
        Colour map format: ``png8``, ``png16`` or ``tiff16``.
    bands : bool
        Also write each band's linear map as a 16-bit TIFF (scaled by ``band_scale``
        recorded in the sidecar).
    backplanes : bool
        Also write ``<id>-map-<projection>-backplanes.npz`` (latitude, longitude,
        incidence, emission, phase, contributing exposure).
    mode : str
        Navigation mode (see :func:`frame_geometry`).
    time_offset : float
    protect : tuple of Path
        Files never to overwrite (the inputs).
    """

    out_dir: Path
    projection: str = "equirectangular"
    resolution: float | None = None
    fmt: str = "png8"
    bands: bool = False
    backplanes: bool = False
    mode: str = "auto"
    time_offset: float = 0.0
    protect: tuple[Path, ...] = field(default=())


def map_frame(
    frame: RawFrame,
    geometry: FrameGeometry,
    pipeline: Pipeline,
    projection: str = "equirectangular",
    resolution: float | None = None,
    *,
    calibration: Calibration | None = None,
    grid: MapGrid | None = None,
) -> tuple[PipelineResult, MapResult]:
    """Run ``pipeline`` on a frame with the map projection in place of stitching.

    Returns
    -------
    (PipelineResult, MapResult)
        The recipe's output on the map grid and the projection (linear bands after
        the recipe's framelet stages, backplanes).

    Examples
    --------
    >>> result, projected = map_frame(frame, geo, Pipeline.named("map"))  # doctest: +SKIP
    >>> result.rgb.shape == projected.grid.shape + (3,)           # doctest: +SKIP
    True
    """
    g = grid or map_grid_for(geometry.view, projection, resolution, bands=frame.meta.filters)
    padded, pad = wrap_padded(g)
    result, projected = _run_projected(frame, geometry, pipeline, padded, calibration)
    return _crop_result(result, pad), _crop_map(projected, g, pad)


#: Columns added on each side of a full-circle cylindrical map while the recipe runs.
WRAP_PAD = 192


def wrap_padded(grid: MapGrid, pad: int = WRAP_PAD) -> tuple[MapGrid, int]:
    """A full-circle equirectangular grid widened by ``pad`` columns on each side.

    The recipe's neighbourhood filters (flattening, local contrast, sharpening) see an
    image edge where the map's 0/360 degree meridian is: on the widened grid the
    columns beyond each edge repeat the other side, and cropping them afterwards
    leaves no seam. Other grids are returned unchanged (pad 0).

    Examples
    --------
    >>> g, p = wrap_padded(MapGrid("equirectangular", 1.0, (10, 360)), 16)
    >>> g.shape, g.lon_left, p
    ((10, 392), 376.0, 16)
    """
    full = grid.projection == "equirectangular" and grid.shape[1] * grid.resolution >= 360.0 - 1e-6
    if not full:
        return grid, 0
    pad = min(pad, grid.shape[1] // 2)
    return (
        MapGrid(
            grid.projection,
            grid.resolution,
            (grid.shape[0], grid.shape[1] + 2 * pad),
            lon_left=grid.lon_left + pad * grid.resolution,
            lat_top=grid.lat_top,
            body=grid.body,
        ),
        pad,
    )


def _crop(a: np.ndarray, pad: int) -> np.ndarray:
    return a[:, pad:-pad] if pad else a


def _crop_result(result: PipelineResult, pad: int) -> PipelineResult:
    if not pad:
        return result
    return replace(
        result,
        rgb=_crop(result.rgb, pad),
        mask=_crop(result.mask, pad),
        bands={b: _crop(v, pad) for b, v in result.bands.items()},
    )


def _crop_planes(bp: Backplanes, pad: int) -> Backplanes:
    return Backplanes(**{k: _crop(v, pad) for k, v in bp.as_dict().items()})


def _crop_map(m: MapResult, grid: MapGrid, pad: int) -> MapResult:
    if not pad:
        return m
    return MapResult(
        grid,
        {b: _crop(v, pad) for b, v in m.bands.items()},
        {b: _crop(v, pad) for b, v in m.masks.items()},
        _crop_planes(m.backplanes, pad),
        _crop(m.exposure, pad),
        None if m.range_km is None else _crop(m.range_km, pad),
    )


def map_file(
    path: str | Path,
    kernels: KernelSet,
    pipeline: Pipeline,
    mopts: MapOptions,
    *,
    metadata: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Map one raw frame and write the map, its sidecar JSON and optional extras.

    Returns
    -------
    dict
        The sidecar's content (with ``outputs`` listing every written file).

    Examples
    --------
    >>> rec = map_file("f-raw.png", KernelSet.from_path("k/"), Pipeline.named("enhanced"),
    ...                MapOptions(Path("maps"), "polar", backplanes=True))  # doctest: +SKIP
    >>> rec["outputs"][0]                                                  # doctest: +SKIP
    'maps/JNCE_...-map-polar-enhanced.png'
    """
    t0 = time.perf_counter()
    frame = read_frame(path, metadata, max_pixels=max_pixels)
    protect = (*mopts.protect, *(Path(p) for p in (frame.path, frame.meta.source) if p))
    geo = frame_geometry(frame, kernels, mode=mopts.mode, time_offset=mopts.time_offset)
    t_geo = time.perf_counter() - t0
    result, projected = map_frame(
        frame, geo, pipeline, mopts.projection, mopts.resolution, calibration=calibration
    )
    stem = f"{frame.meta.product_id}-map-{mopts.projection}"
    out = mopts.out_dir
    image = out / f"{stem}-{pipeline.name}{FORMATS[mopts.fmt]}"
    rgb = np.where(result.mask[..., None], result.rgb, 0.0).astype(np.float32)
    write_image(rgb, image, ProcessOptions(out_dir=out, fmt=mopts.fmt), protect)
    outputs = [str(image)]
    band_scale = None
    if mopts.bands:
        band_scale = float(max(np.max(v) for v in projected.bands.values()) or 1.0)
        for b, v in projected.bands.items():
            p = out / f"{stem}-{b.value.lower()}.tif"
            write_tiff16(p, np.clip(v / band_scale, 0, 1), protect=protect)
            outputs.append(str(p))
    if mopts.backplanes:
        p = out / f"{stem}-backplanes.npz"
        arrays = {f"band_{b.value.lower()}": v for b, v in projected.bands.items()}
        _write_npz(
            p, protect, exposure=projected.exposure, **projected.backplanes.as_dict(), **arrays
        )
        outputs.append(str(p))
    record: dict[str, Any] = {
        "product_id": frame.meta.product_id,
        "input": frame.path,
        "grid": projected.grid.to_dict(),
        "geometry": geo.as_dict(),
        "kernels": list(kernels.paths),
        "pipeline": pipeline.name,
        "pipeline_digest": pipeline.digest(),
        "notes": result.notes,
        "band_scale": band_scale,
        "junocam_version": __version__,
        "timings_s": {
            "geometry": round(t_geo, 3),
            **{k: round(v, 3) for k, v in result.timings.items()},
        },
        "outputs": outputs,
    }
    return _write_sidecar(out / f"{stem}-{pipeline.name}.json", record, protect)


@dataclass(frozen=True)
class MosaicOptions:
    """How :func:`mosaic_files` builds and writes a mosaic.

    Parameters
    ----------
    out_dir : Path
    name : str
        File stem of the outputs.
    projection : str
    resolution : float, optional
        Degrees per pixel (default: the finest ground pixel among the frames).
    fit_gains : bool
        Match the frames' brightness per band on their overlaps first.
    gain_scale : int
        How much coarser the grid of the gain-fitting pass is.
    fmt : str
    mode : str
        Navigation mode (see :func:`frame_geometry`).
    """

    out_dir: Path
    name: str = "mosaic"
    projection: str = "polar"
    resolution: float | None = None
    fit_gains: bool = True
    gain_scale: int = 4
    fmt: str = "png8"
    mode: str = "auto"
    protect: tuple[Path, ...] = field(default=())


def _run_projected(
    frame: RawFrame,
    geo: FrameGeometry,
    pipeline: Pipeline,
    grid: MapGrid,
    calibration: Calibration | None,
) -> tuple[PipelineResult, MapResult]:
    """Run ``pipeline`` with the projection onto ``grid`` in place of stitching."""
    holder: list[MapResult] = []

    def projector(fr: Framelets) -> MapResult:
        holder.append(project_frame(fr, geo.view, grid))
        return holder[-1]

    result = pipeline.run(frame, calibration=calibration, projector=projector, spin_fit=geo.fit)
    return result, holder[0]


def _project_calibrated(
    frame: RawFrame,
    geo: FrameGeometry,
    pipeline: Pipeline,
    grid: MapGrid,
    calibration: Calibration | None,
) -> MapResult:
    """The frame's framelets after the recipe's framelet stages, on ``grid``.

    Only the recipe's stages up to its compose stage run: the colour stages of a
    mosaic run once on the blend (:meth:`Pipeline.run_bands`), not per frame.
    """
    kinds = [STAGES[s.name].kind for s in pipeline.stages]
    head = Pipeline(list(pipeline.stages[: kinds.index("compose") + 1]), name=pipeline.name)
    return _run_projected(frame, geo, head, grid, calibration)[1]


def mosaic_frames(
    paths: list[str | Path],
    kernels: KernelSet,
    pipeline: Pipeline,
    mopts: MosaicOptions,
    *,
    calibration: Calibration | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Any = None,
) -> tuple[Mosaic, PipelineResult, list[dict[str, Any]], RawFrame]:
    """Navigate, gain-match and blend frames into one map (frames one at a time).

    Frames that cannot be read or navigated are left out; their records carry the
    error instead of navigation and gains.

    Returns
    -------
    (Mosaic, PipelineResult, per-frame records, first frame)

    Examples
    --------
    >>> mosaic, result, records, _ = mosaic_frames(paths, kernels, Pipeline.named("map"),
    ...                                            MosaicOptions(Path(".")))  # doctest: +SKIP
    >>> mosaic.coverage.max()                                             # doctest: +SKIP
    2
    """
    from .mosaic import MosaicAccumulator, fit_gains

    if not paths:
        raise GeometryError("a mosaic needs at least one frame")
    geos, records, filters, skipped = [], [], [], []
    for p in paths:
        try:
            frame = read_frame(p, max_pixels=max_pixels)
            geo = frame_geometry(frame, kernels, mode=mopts.mode)
        except JunoCamError as err:
            # one frame that cannot be read or navigated must not sink the mosaic
            skipped.append({"input": str(p), "error": str(err)})
            if progress:
                progress(f"skipped {p}: {err.message}")
            continue
        filters.extend(frame.meta.filters)
        geos.append((Path(p), geo))
        mid = geo.view.observer[geo.view.n_exposures // 2]
        records.append(
            {
                "input": str(p),
                "product_id": frame.meta.product_id,
                "observer_mid_km": [round(float(v), 3) for v in mid],
                **geo.as_dict(),
            }
        )
        if progress:
            progress(f"navigated {frame.meta.product_id}")
    if not geos:
        raise GeometryError(
            "no frame could be navigated: " + "; ".join(x["error"] for x in skipped)
        )
    paths = [p for p, _ in geos]
    views = [g.view for _, g in geos]
    first = read_frame(paths[0], max_pixels=max_pixels)
    bands = tuple(dict.fromkeys(filters))
    grid = map_grid_for(views, mopts.projection, mopts.resolution, bands=bands)
    gains: list[dict[Any, float]] = [{} for _ in paths]
    if mopts.fit_gains and len(paths) > 1:
        coarse = MapGrid(
            grid.projection,
            grid.resolution * mopts.gain_scale,
            (max(1, grid.shape[0] // mopts.gain_scale), max(1, grid.shape[1] // mopts.gain_scale)),
            lon_left=grid.lon_left,
            lat_top=grid.lat_top,
            pole=grid.pole,
            center_lon=grid.center_lon,
            center_lat=grid.center_lat,
            body=grid.body,
        )
        small = []
        for path, geo in geos:
            frame = read_frame(path, max_pixels=max_pixels)
            small.append(_project_calibrated(frame, geo, pipeline, coarse, calibration))
        for b in bands:
            g = fit_gains([m.bands for m in small], [m.masks for m in small], b)
            for k in range(len(paths)):
                gains[k][b] = g[k]
    padded, pad = wrap_padded(grid)
    acc = MosaicAccumulator(padded, bands)
    for k, (path, geo) in enumerate(geos):
        frame = read_frame(path, max_pixels=max_pixels)
        acc.add(_project_calibrated(frame, geo, pipeline, padded, calibration), gains[k])
        if progress:
            progress(f"added {frame.meta.product_id}")
    wide = acc.result()
    result = _crop_result(pipeline.run_bands(first, wide.bands, wide.masks, wide.backplanes), pad)
    mosaic = Mosaic(
        grid=grid,
        bands={b: _crop(v, pad) for b, v in wide.bands.items()},
        masks={b: _crop(v, pad) for b, v in wide.masks.items()},
        coverage=_crop(wide.coverage, pad),
        source=_crop(wide.source, pad),
        backplanes=_crop_planes(wide.backplanes, pad),
        gains=wide.gains,
    )
    for k, rec in enumerate(records):
        rec["gains"] = {b.value: round(mosaic.gains[b][k], 5) for b in bands}
    return mosaic, result, records + skipped, first


def mosaic_files(
    paths: list[str | Path],
    kernels: KernelSet,
    pipeline: Pipeline,
    mopts: MosaicOptions,
    *,
    calibration: Calibration | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Any = None,
) -> dict[str, Any]:
    """Build a mosaic and write it: colour map, sidecar JSON, coverage and source maps.

    Returns
    -------
    dict
        The sidecar's content.

    Examples
    --------
    >>> rec = mosaic_files(paths, kernels, Pipeline.named("enhanced"),
    ...                    MosaicOptions(Path("mosaics")))          # doctest: +SKIP
    >>> [f["gains"]["GREEN"] for f in rec["frames"]]             # doctest: +SKIP
    [1.0, 1.86]
    """
    mosaic, result, records, _ = mosaic_frames(
        paths,
        kernels,
        pipeline,
        mopts,
        calibration=calibration,
        max_pixels=max_pixels,
        progress=progress,
    )
    protect = (*mopts.protect, *(Path(p) for p in paths))
    out = mopts.out_dir
    stem = f"{mopts.name}-{mopts.projection}"
    image = out / f"{stem}-{pipeline.name}{FORMATS[mopts.fmt]}"
    rgb = np.where(result.mask[..., None], result.rgb, 0.0).astype(np.float32)
    write_image(rgb, image, ProcessOptions(out_dir=out, fmt=mopts.fmt), protect)
    from .output import write_png

    cov = out / f"{stem}-coverage.png"
    write_png(
        cov,
        np.clip(mosaic.coverage / max(1, int(mosaic.coverage.max())), 0, 1),
        bits=8,
        protect=protect,
    )
    src = out / f"{stem}-source.png"
    n = max(1, sum("error" not in r for r in records))
    write_png(
        src, np.where(mosaic.source >= 0, (mosaic.source + 1) / n, 0.0), bits=8, protect=protect
    )
    planes = out / f"{stem}-backplanes.npz"
    _write_npz(
        planes,
        protect,
        coverage=mosaic.coverage,
        source=mosaic.source,
        **mosaic.backplanes.as_dict(),
    )
    record: dict[str, Any] = {
        "grid": mosaic.grid.to_dict(),
        "frames": records,
        "kernels": list(kernels.paths),
        "pipeline": pipeline.name,
        "pipeline_digest": pipeline.digest(),
        "notes": result.notes,
        "junocam_version": __version__,
        "outputs": [str(image), str(cov), str(src), str(planes)],
        "source_png": "grey level (k + 1) / n_frames marks frame k; 0 = no frame",
    }
    return _write_sidecar(out / f"{stem}-{pipeline.name}.json", record, protect)


def _write_npz(path: Path, protect: tuple[Path, ...], **arrays: np.ndarray) -> None:
    """Compressed ``.npz`` written atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()), protect=protect)


def _write_sidecar(path: Path, record: dict[str, Any], protect: tuple[Path, ...]) -> dict[str, Any]:
    """Write the JSON record atomically and list it among its own outputs."""
    text = json.dumps(record, indent=2)
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), protect=protect)
    record["outputs"].append(str(path))
    return record


def load_map(path: str | Path) -> tuple[np.ndarray, MapGrid, np.ndarray]:
    """A map image written by ``junocam map``/``mosaic`` and its grid (from the sidecar).

    The sidecar is the ``.json`` beside the image with the same stem.

    Returns
    -------
    (image float32 in [0, 1], MapGrid, mask of non-black pixels)

    Examples
    --------
    >>> img, grid, mask = load_map("maps/f-map-polar-enhanced.png")  # doctest: +SKIP
    >>> grid.projection                                             # doctest: +SKIP
    'polar'
    """
    from .errors import FormatError

    p = Path(path)
    side = p.with_suffix(".json")
    if not side.is_file():
        raise FormatError(
            f"no grid description: {side.name} is missing beside the map", path=str(p)
        )
    try:
        grid = MapGrid.from_dict(json.loads(side.read_text())["grid"])
    except (KeyError, ValueError) as err:
        raise FormatError(
            f"{side.name} does not describe a map grid ({err})", path=str(p)
        ) from None
    import imageio.v3 as iio

    try:
        img = np.asarray(iio.imread(p))
    except Exception as err:  # noqa: BLE001 - any decoder failure is a bad file
        raise FormatError(f"cannot read the map image: {err}", path=str(p)) from None
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    img = img.astype(np.float32) / scale
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    mask = img.max(axis=-1) > 0 if img.ndim == 3 else img > 0
    return img, grid, mask
