"""Mosaics: several frames navigated, projected onto one grid, blended and written.

:func:`mosaic_frames` navigates every frame (:func:`~junocam.maps.frame.frame_geometry`),
runs each recipe up to its compose stage with the projection in place of the
stitcher, matches the frames' brightness (:func:`~junocam.maps.blend.fit_gains`),
blends them (:class:`~junocam.maps.blend.MosaicAccumulator`) and runs the colour
stages once on the blend; :func:`mosaic_files` also writes the image, the coverage
and source maps, the backplanes and the JSON sidecar.

Examples
--------
>>> from pathlib import Path
>>> MosaicOptions(Path("maps")).projection
'polar'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..calibrate import Calibration
from ..decode import DEFAULT_MAX_PIXELS, RawFrame, read_frame
from ..errors import GeometryError, JunoCamError
from ..metadata import Filter
from ..output import write_png, write_tiff16
from ..pipeline.engine import Pipeline, PipelineResult
from ..planet.projection import MapGrid, MapResult, map_grid_for
from ..planet.spice import KernelSet
from ..planet.targets import target_named
from ..process import FORMATS, ProcessOptions, write_image
from .blend import Mosaic
from .cache import GeometryCache
from .frame import (
    FrameGeometry,
    crop_array,
    crop_planes,
    crop_result,
    frame_geometry,
    run_projected,
    tie_flyby_frames,
    wrap_padded,
)
from .geotiff import (
    BACKPLANE_UNITS,
    GEOTIFF_FORMATS,
    require_gis,
    write_colour_geotiff,
    write_float_geotiff,
)
from .store import write_npz, write_sidecar

__all__ = [
    "MosaicOptions",
    "mosaic_frames",
    "mosaic_files",
]


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
        ``png8``, ``png16``, ``tiff16``, or ``geotiff``/``geotiff16``: GIS-ready
        colour mosaic and backplanes (coverage, source frame, geometry) as GeoTIFF in
        the body's CRS (:mod:`junocam.maps.geotiff`), the backplanes replacing the
        ``.npz``.
    alpha : bool
        Write the colour mosaic as RGBA, transparent where not every band has data.
    mode : str
        Navigation mode (see :func:`frame_geometry`).
    bands : bool
        Also write each band's blended, gain-matched linear mosaic
        (``<name>-<projection>-<band>.tif``): a 16-bit TIFF scaled by ``band_scale``
        (in the sidecar), or with GeoTIFF a float32 map in linear DN, NaN = nodata.
    protect : tuple of Path
        Files never to overwrite.
    cache : GeometryCache, optional
        Where to reuse and keep each frame's spin fit and navigation (None: always
        computed).
    target : str, optional
        Target body (default: each frame's TARGET_NAME; all must agree).
    """

    out_dir: Path
    name: str = "mosaic"
    projection: str = "polar"
    resolution: float | None = None
    fit_gains: bool = True
    gain_scale: int = 4
    fmt: str = "png8"
    alpha: bool = False
    mode: str = "auto"
    protect: tuple[Path, ...] = field(default=())
    bands: bool = False
    cache: GeometryCache | None = None
    target: str | None = None


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
    return run_projected(frame, geo, pipeline.through("compose"), grid, calibration)[1]


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
    Two one-exposure green frames of a synthetic pass, one spin period apart (so
    they overlap), the second exposed 1.3 times longer; and a file that is missing:

    >>> import tempfile
    >>> from junocam.metadata import Filter
    >>> from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames
    >>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=1, oversample=1)
    >>> truth, pngs = simulate_pass_frames(tempfile.mkdtemp(), offsets_s=(0.0, 60 / 1.99),
    ...                                    gains=(1.0, 1.3), frame=spec,
    ...                                    texture=PlanetTexture.procedural((90, 180)))
    >>> linear = Pipeline(["stitch", ("compose", {"normalize": "full_scale"})], name="linear")
    >>> mopts = MosaicOptions(Path("."), resolution=1.0, mode="ck")
    >>> mosaic, result, records, _ = mosaic_frames([*pngs, "missing-raw.png"], truth.kernels,
    ...                                            linear, mopts)
    >>> [round(g, 2) for g in mosaic.gains[Filter.GREEN]], int(mosaic.coverage.max())
    ([1.0, 0.77], 2)
    >>> records[2]
    {'input': 'missing-raw.png', 'error': 'missing-raw.png: file does not exist'}
    """
    from .blend import MosaicAccumulator, fit_gains

    if not paths:
        raise GeometryError("a mosaic needs at least one frame")
    geos: list[tuple[Path, FrameGeometry]] = []
    records: list[dict[str, Any]] = []
    filters: list[Filter] = []
    skipped: list[dict[str, Any]] = []
    for p in paths:
        try:
            frame = read_frame(p, max_pixels=max_pixels)
            geo = frame_geometry(
                frame, kernels, mode=mopts.mode, cache=mopts.cache, target=mopts.target
            )
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
                "target": geo.ephemeris.target.name,
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
    # the frames of a close moon flyby share one spin axis: navigated together, each
    # one's roll about the line of sight is pinned (junocam.planet.navigate_jointly)
    tied = tie_flyby_frames([p for p, _ in geos], [g for _, g in geos], max_pixels=max_pixels)
    for k, joint in enumerate(tied):
        if joint is not geos[k][1]:
            geos[k] = (geos[k][0], joint)
            records[k].update(joint.as_dict())
    names = sorted({g.ephemeris.target.name for _, g in geos})
    if len(names) > 1:
        raise GeometryError(
            f"the frames show different targets ({', '.join(names)}): mosaic one body at a "
            "time or choose it with --target"
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
    result = crop_result(pipeline.run_bands(first, wide.bands, wide.masks, wide.backplanes), pad)
    mosaic = Mosaic(
        grid=grid,
        bands={b: crop_array(v, pad) for b, v in wide.bands.items()},
        masks={b: crop_array(v, pad) for b, v in wide.masks.items()},
        coverage=crop_array(wide.coverage, pad),
        source=crop_array(wide.source, pad),
        backplanes=crop_planes(wide.backplanes, pad),
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
    Two one-exposure green frames of a synthetic pass, one spin period apart, the
    second exposed 1.3 times longer:

    >>> import tempfile
    >>> from junocam.metadata import Filter
    >>> from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames
    >>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=1, oversample=1)
    >>> truth, pngs = simulate_pass_frames(tempfile.mkdtemp(), offsets_s=(0.0, 60 / 1.99),
    ...                                    gains=(1.0, 1.3), frame=spec,
    ...                                    texture=PlanetTexture.procedural((90, 180)))
    >>> linear = Pipeline(["stitch", ("compose", {"normalize": "full_scale"})], name="linear")
    >>> out = Path(tempfile.mkdtemp())
    >>> rec = mosaic_files(pngs, truth.kernels, linear,
    ...                    MosaicOptions(out, resolution=1.0, mode="ck"))
    >>> [Path(p).name for p in rec["outputs"]]
    ['mosaic-polar-linear.png', 'mosaic-polar-coverage.png', 'mosaic-polar-source.png',
     'mosaic-polar-backplanes.npz', 'mosaic-polar-linear.json']
    >>> [round(f["gains"]["GREEN"], 2) for f in rec["frames"]]
    [1.0, 0.77]
    """
    gis_bits = GEOTIFF_FORMATS.get(mopts.fmt)
    if gis_bits:
        require_gis()  # before the work, not after
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
    image = out / f"{stem}-{pipeline.name}{'.tif' if gis_bits else FORMATS[mopts.fmt]}"
    tags = {
        "product_id": f"{mopts.name}: mosaic of "
        + ", ".join(str(r["product_id"]) for r in records if "error" not in r),
        "kernels": list(kernels.paths),
        "recipe": pipeline.name,
        "recipe_digest": pipeline.digest(),
    }
    if mopts.alpha:  # transparent where no band covers the map
        rgba = result.rgba()
        rgb, alpha = rgba, rgba[..., 3]
    else:
        rgb = np.where(result.mask[..., None], result.rgb, 0.0).astype(np.float32)
        alpha = result.mask.astype(np.float32)
    if gis_bits:
        write_colour_geotiff(
            image, rgb[..., :3], alpha, mosaic.grid, bits=gis_bits, tags=tags, protect=protect
        )
    else:
        write_image(rgb, image, ProcessOptions(out_dir=out, fmt=mopts.fmt), protect)

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
    if gis_bits:
        planes = out / f"{stem}-backplanes.tif"
        write_float_geotiff(
            planes,
            {
                "coverage": mosaic.coverage,
                "source": np.where(mosaic.source >= 0, mosaic.source, np.nan),
                **mosaic.backplanes.as_dict(),
            },
            mosaic.grid,
            units=BACKPLANE_UNITS,
            tags=tags,
            protect=protect,
        )
    else:
        planes = out / f"{stem}-backplanes.npz"
        write_npz(
            planes,
            protect,
            coverage=mosaic.coverage,
            source=mosaic.source,
            **mosaic.backplanes.as_dict(),
        )
    band_files, band_scale = [], None
    if mopts.bands:
        if not gis_bits:
            band_scale = float(max(np.max(v) for v in mosaic.bands.values()) or 1.0)
        for b, v in mosaic.bands.items():
            p = out / f"{stem}-{b.value.lower()}.tif"
            if gis_bits:
                write_float_geotiff(
                    p,
                    {b.value.lower(): np.where(mosaic.masks[b], v, np.nan)},
                    mosaic.grid,
                    units={b.value.lower(): "linear DN"},
                    tags=tags | {"band": b.value},
                    protect=protect,
                )
            else:
                assert band_scale is not None
                write_tiff16(p, np.clip(v / band_scale, 0, 1), protect=protect)
            band_files.append(str(p))
    named = [r["target"] for r in records if "target" in r]
    record: dict[str, Any] = {
        "grid": mosaic.grid.to_dict(),
        "target": target_named(named[0]).with_radii(mosaic.grid.body.radii).as_dict()
        if named
        else None,
        "frames": records,
        "kernels": list(kernels.paths),
        "pipeline": pipeline.name,
        "pipeline_digest": pipeline.digest(),
        "notes": result.notes,
        "junocam_version": __version__,
        "band_scale": band_scale,
        "outputs": [str(image), str(cov), str(src), str(planes), *band_files],
        "source_png": "grey level (k + 1) / n_frames marks frame k; 0 = no frame",
    }
    return write_sidecar(out / f"{stem}-{pipeline.name}.json", record, protect)
