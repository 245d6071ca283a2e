"""One frame to a map: kernels, navigation, projection, recipe, files.

:func:`frame_geometry` gives a frame's per-exposure geometry: positions from the
SPK, attitude from a CK when one is loaded (its start time refined on the limb)
or else navigated from the limb and terminator with the self-calibrated spin.
:func:`map_file` then runs a recipe with the map projection in place of the
stitcher and writes the colour map, a JSON sidecar describing the grid and the
geometry, and optionally every band's linear map and the backplanes.

Examples
--------
The geometry of a frame of a synthetic pass, with the CK attitude as is (``mode="ck"``
needs the frame's metadata only, not its pixels):

>>> import tempfile
>>> import numpy as np
>>> from junocam.decode import RawFrame
>>> from junocam.maps.frame import frame_geometry
>>> from junocam.metadata import from_website_json
>>> from junocam.planet.simkernels import write_pass_kernels
>>> from junocam.planet.spice import KernelSet
>>> from junocam.simulate import SimulationSpec, website_metadata
>>> folder = tempfile.mkdtemp()
>>> truth = write_pass_kernels(folder)
>>> spec = SimulationSpec(n_exposures=2)
>>> meta = from_website_json(website_metadata(spec, spec.true_spin()))
>>> frame = RawFrame(np.zeros((meta.lines, 1648), np.uint8), meta)
>>> geo = frame_geometry(frame, KernelSet.from_path(folder), mode="ck")
>>> geo.as_dict()
{'attitude': 'ck', 'exposure_utc': ['2026-11-25T12:00:00.067', '2026-11-25T12:00:00.440']}

:func:`map_file` shows a whole map made and written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..calibrate import Calibration
from ..camera import CameraModel
from ..companding import decompand
from ..decode import DEFAULT_MAX_PIXELS, RawFrame, read_frame
from ..errors import GeometryError
from ..framelets import Framelets, split
from ..geometry import fit_frame_spin
from ..output import write_tiff16
from ..pipeline.engine import Pipeline, PipelineResult
from ..planet.navigate import Navigation, navigate
from ..planet.photometry import Backplanes
from ..planet.pointing import ViewGeometry, view_from_ck
from ..planet.projection import MapGrid, MapResult, map_grid_for, project_frame
from ..planet.spice import Ephemeris, KernelSet, frame_ephemeris
from ..process import FORMATS, ProcessOptions, write_image
from ..spinfit import SpinFit
from .cache import GeometryCache, geometry_key
from .geotiff import (
    BACKPLANE_UNITS,
    GEOTIFF_FORMATS,
    require_gis,
    write_colour_geotiff,
    write_float_geotiff,
)
from .store import write_npz, write_sidecar

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
    cache: GeometryCache | None = None,
    target: str | None = None,
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
    cache : GeometryCache, optional
        Reuse (or store) the spin fit and navigation of an identical earlier call
        (same pixels, metadata, kernels, mode and offset; see
        :mod:`junocam.maps.cache`). Not used with ``spin_fit`` or ``mode="ck"``.
    target : str, optional
        Target body name (default: the frame's TARGET_NAME, see
        :func:`junocam.planet.spice.resolve_target`).

    Returns
    -------
    FrameGeometry

    Raises
    ------
    KernelError, GeometryError

    Examples
    --------
    A one-exposure frame of a synthetic pass, rendered 15 ms later than its metadata
    says; the CK's attitude gets its start time refined on the limb:

    >>> import tempfile, warnings
    >>> from junocam.metadata import from_website_json
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> from junocam.simulate import (PlanetTexture, SimulationSpec, simulate_planet_frame,
    ...                               website_metadata)
    >>> truth = write_pass_kernels(tempfile.mkdtemp())
    >>> spec = SimulationSpec(n_exposures=1, oversample=1)
    >>> meta = from_website_json(website_metadata(spec, spec.true_spin()))
    >>> late = view_from_ck(frame_ephemeris(meta, truth.kernels, time_offset=0.015))
    >>> sim = simulate_planet_frame(PlanetTexture.procedural((90, 180)), late, spec)
    >>> with warnings.catch_warnings(record=True):  # one exposure: no spin to fit
    ...     geo = frame_geometry(RawFrame(sim.strip, meta), truth.kernels)
    >>> geo.as_dict()["attitude"], round(geo.navigation.time_offset, 3)
    ('ck', 0.016)
    >>> geo.navigation.limb_rms_px < 0.5
    True
    """
    if mode not in NAVIGATION_MODES:
        raise GeometryError(f"unknown navigation mode {mode!r}; choose one of {NAVIGATION_MODES}")
    if cache is not None and spin_fit is None and mode != "ck":
        key = geometry_key(frame, kernels, mode=mode, time_offset=time_offset, target=target)
        parts, _ = cache.get_or_compute(
            key,
            lambda: _geometry_parts(
                frame_geometry(frame, kernels, mode=mode, time_offset=time_offset, target=target)
            ),
        )
        return FrameGeometry(*parts)
    eph = frame_ephemeris(
        frame.meta, kernels, time_offset=time_offset, use_ck=mode != "limb", target=target
    )
    if mode == "ck":
        if not eph.has_attitude:
            raise GeometryError("--navigate ck needs a CK (and the Juno frames kernel)")
        return FrameGeometry(view_from_ck(eph), eph, None, None)
    framelets = linear_framelets(frame)
    fit = spin_fit or fit_frame_spin(framelets, frame.meta.interframe_delay)
    camera = fit.camera or CameraModel()
    nav = navigate(framelets, eph, fit.spin, camera)
    return FrameGeometry(nav.view, eph, nav, fit)


#: Frames of one flyby are tied together (:func:`tie_flyby_frames`) when each is within
#: this many seconds of the previous one: a close flyby's imaging lasts minutes, and
#: Juno does not manoeuvre in between.
FLYBY_GAP_S = 900.0


def tie_flyby_frames(
    frames: Sequence[RawFrame | str | Path],
    geometries: Sequence[FrameGeometry],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[FrameGeometry]:
    """Navigate the frames of a close moon flyby together (one spin axis).

    Frames navigated without a CK on a close flyby of a moon (where one frame leaves
    its roll about the line of sight loose, see
    :func:`junocam.planet.navigate.navigate_jointly`) are grouped by target and time
    (gaps under :data:`FLYBY_GAP_S`); every group of two or more is re-fitted with
    one spin axis. Other frames (a CK, Jupiter, a single frame) keep their geometry.
    A group that does not share one axis keeps its single-frame navigations, with a
    warning.

    Parameters
    ----------
    frames : sequence of RawFrame or path
        The frames (paths are read only when a frame is tied).
    geometries : sequence of FrameGeometry
        Their single-frame geometries (:func:`frame_geometry`), in the same order.
    max_pixels : int
        Decompression-bomb limit when reading a path.

    Returns
    -------
    list of FrameGeometry

    Examples
    --------
    Frames with a CK attitude keep it (two frames of a synthetic Jupiter pass, one
    spin apart, with ``mode="ck"``):

    >>> import tempfile
    >>> from junocam import simulate as sim
    >>> from junocam.metadata import Filter
    >>> green = sim.SimulationSpec(filters=(Filter.GREEN,), n_exposures=1, oversample=1)
    >>> truth, pngs = sim.simulate_pass_frames(
    ...     tempfile.mkdtemp(), offsets_s=(0.0, 31.7), frame=green,
    ...     texture=sim.PlanetTexture.procedural((60, 120)))
    >>> geos = [frame_geometry(read_frame(p), truth.kernels, mode="ck") for p in pngs]
    >>> tie_flyby_frames(pngs, geos) == geos
    True
    """
    import warnings

    from ..planet.navigate import CLOSE_FLYBY_PARALLAX, NavFrame, navigate_jointly
    from ..planet.navigate import parallax_turn_bound as bound
    from ..spinfit import JunoCamWarning

    out = list(geometries)
    free = [
        k
        for k, g in enumerate(geometries)
        if g.navigation is not None
        and g.navigation.pointing is not None
        and g.fit is not None
        and g.ephemeris.target.naif_id != 599
        and bound(g.ephemeris, g.fit.spin) > CLOSE_FLYBY_PARALLAX
    ]
    free.sort(key=lambda k: (geometries[k].ephemeris.target.naif_id, geometries[k].ephemeris.et[0]))
    groups: list[list[int]] = []
    for k in free:
        g, last = geometries[k], groups[-1][-1] if groups else None
        if (
            last is not None
            and geometries[last].ephemeris.target == g.ephemeris.target
            and g.ephemeris.et[0] - geometries[last].ephemeris.et[-1] < FLYBY_GAP_S
        ):
            groups[-1].append(k)
        else:
            groups.append([k])
    for group in groups:
        if len(group) < 2:
            continue
        nav_frames, navs = [], []
        for k in group:
            g = geometries[k]
            assert g.fit is not None and g.navigation is not None
            camera = g.fit.camera or CameraModel()
            f = frames[k]
            raw = f if isinstance(f, RawFrame) else read_frame(f, max_pixels=max_pixels)
            nav_frames.append(NavFrame(linear_framelets(raw), g.ephemeris, g.fit.spin, camera))
            navs.append(g.navigation)
        try:
            tied = navigate_jointly(nav_frames, navigations=navs)
        except GeometryError as err:
            names = ", ".join(str(getattr(frames[k], "path", frames[k])) for k in group)
            warnings.warn(
                f"{names}: kept their own navigations: {err}", JunoCamWarning, stacklevel=2
            )
            continue
        for k, nav in zip(group, tied, strict=True):
            out[k] = replace(geometries[k], view=nav.view, navigation=nav)
    return out


def frame_geometries(
    paths: Sequence[str],
    kernels: KernelSet,
    *,
    mode: str = "auto",
    time_offset: float = 0.0,
    target: str | None = None,
    cache: GeometryCache | None = None,
    metadata: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, FrameGeometry]:
    """The geometries of several frames, those of one close moon flyby tied together.

    Every frame is navigated (:func:`frame_geometry`; frames that cannot be read or
    navigated are left out: they fail again, with their message, where the caller
    handles them one by one), then :func:`tie_flyby_frames` ties those of one flyby
    to one spin axis. The commands that take several frames (``map``, ``geometry
    --navigate``) use the result in place of each frame's own navigation.

    Returns
    -------
    dict
        Path (as given) to its geometry, for every frame navigated.

    Examples
    --------
    A frame with a CK keeps the CK's attitude:

    >>> import tempfile
    >>> from junocam import simulate as sim
    >>> from junocam.metadata import Filter
    >>> spec = sim.SimulationSpec(filters=(Filter.RED,), n_exposures=1, oversample=1)
    >>> truth, pngs = sim.simulate_pass_frames(tempfile.mkdtemp(), frame=spec,
    ...                                        texture=sim.PlanetTexture.procedural((45, 90)))
    >>> geos = frame_geometries([str(p) for p in pngs], truth.kernels, mode="ck")
    >>> [g.as_dict()["attitude"] for g in geos.values()]
    ['ck']
    """
    from ..errors import JunoCamError

    kept: list[str] = []
    raws: list[RawFrame] = []
    geos: list[FrameGeometry] = []
    for path in paths:
        try:
            raw = read_frame(path, metadata, max_pixels=max_pixels)
            geo = frame_geometry(
                raw, kernels, mode=mode, time_offset=time_offset, cache=cache, target=target
            )
        except JunoCamError:
            continue
        kept.append(path)
        raws.append(raw)
        geos.append(geo)
    return dict(zip(kept, tie_flyby_frames(raws, geos), strict=True))


def _geometry_parts(geo: FrameGeometry) -> tuple[Any, ...]:
    return (geo.view, geo.ephemeris, geo.navigation, geo.fit)


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
        Colour map format: ``png8``, ``png16``, ``tiff16``, or ``geotiff``/``geotiff16``
        (GIS-ready, :mod:`junocam.maps.geotiff`: the colour map, the bands and the
        backplanes as GeoTIFF in the body's CRS; the backplanes then replace the
        ``.npz``).
    alpha : bool
        Write the colour map as RGBA, transparent where not every band has data.
    bands : bool
        Also write each band's linear map as a 16-bit TIFF (scaled by ``band_scale``
        recorded in the sidecar); with GeoTIFF, as float32 in linear DN, unscaled.
    backplanes : bool
        Also write ``<id>-map-<projection>-backplanes.npz`` (latitude, longitude,
        incidence, emission, phase, contributing exposure).
    mode : str
        Navigation mode (see :func:`frame_geometry`).
    time_offset : float
    protect : tuple of Path
        Files never to overwrite (the inputs).
    cache : GeometryCache, optional
        Where to reuse and keep the frame's spin fit and navigation (None: always
        computed).
    target : str, optional
        Target body (default: the frame's TARGET_NAME).
    """

    out_dir: Path
    projection: str = "equirectangular"
    resolution: float | None = None
    fmt: str = "png8"
    alpha: bool = False
    bands: bool = False
    backplanes: bool = False
    mode: str = "auto"
    time_offset: float = 0.0
    protect: tuple[Path, ...] = field(default=())
    cache: GeometryCache | None = None
    target: str | None = None


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
    A uniform frame seen by a camera 300 000 km above the north pole, looking
    straight down (a hand-made CK attitude), on a coarse polar map:

    >>> from junocam.metadata import assumed_meta
    >>> from junocam.planet.spheroid import JUPITER
    >>> down = np.diag([1.0, -1.0, -1.0])[None]
    >>> eph = Ephemeris("X", np.zeros(1), ("",), np.array([[0, 0, 3e5]]), np.zeros((1, 3)),
    ...                 np.array([[0, 0, 1.0]]), np.eye(3)[None], down, np.zeros((1, 3)),
    ...                 JUPITER)
    >>> geo = FrameGeometry(view_from_ck(eph), eph, None, None)
    >>> frame = RawFrame(np.full((384, 1648), 200, np.uint8), assumed_meta(384))
    >>> result, projected = map_frame(frame, geo, Pipeline(["stitch", "compose"]), "polar", 1.0)
    >>> result.rgb.shape == projected.grid.shape + (3,), projected.grid.pole
    (True, 'north')
    >>> sorted(b.value for b in projected.bands), result.notes
    (['BLUE', 'GREEN', 'RED'], ['stitch: replaced by the map projection'])
    """
    g = grid or map_grid_for(geometry.view, projection, resolution, bands=frame.meta.filters)
    padded, pad = wrap_padded(g)
    result, projected = run_projected(frame, geometry, pipeline, padded, calibration)
    return crop_result(result, pad), crop_map(projected, g, pad)


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


def crop_array(a: np.ndarray, pad: int) -> np.ndarray:
    return a[:, pad:-pad] if pad else a


def crop_result(result: PipelineResult, pad: int) -> PipelineResult:
    if not pad:
        return result
    return replace(
        result,
        rgb=crop_array(result.rgb, pad),
        mask=crop_array(result.mask, pad),
        bands={b: crop_array(v, pad) for b, v in result.bands.items()},
    )


def crop_planes(bp: Backplanes, pad: int) -> Backplanes:
    return Backplanes(**{k: crop_array(v, pad) for k, v in bp.as_dict().items()})


def crop_map(m: MapResult, grid: MapGrid, pad: int) -> MapResult:
    if not pad:
        return m
    return MapResult(
        grid,
        {b: crop_array(v, pad) for b, v in m.bands.items()},
        {b: crop_array(v, pad) for b, v in m.masks.items()},
        crop_planes(m.backplanes, pad),
        crop_array(m.exposure, pad),
        None if m.range_km is None else crop_array(m.range_km, pad),
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
    geometry: FrameGeometry | None = None,
) -> dict[str, Any]:
    """Map one raw frame and write the map, its sidecar JSON and optional extras.

    ``geometry`` gives the frame's geometry when already known (e.g. from
    :func:`tie_flyby_frames`); by default :func:`frame_geometry` finds it.

    Returns
    -------
    dict
        The sidecar's content (with ``outputs`` listing every written file).

    Examples
    --------
    A one-exposure green frame of a synthetic pass (raw PNG, JSON metadata and
    kernels), mapped with the CK attitude at 1 degree per pixel:

    >>> import tempfile
    >>> from junocam.metadata import Filter
    >>> from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames
    >>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=1, oversample=1)
    >>> truth, (png,) = simulate_pass_frames(tempfile.mkdtemp(), frame=spec,
    ...                                      texture=PlanetTexture.procedural((90, 180)))
    >>> out = Path(tempfile.mkdtemp())
    >>> rec = map_file(png, truth.kernels, Pipeline(["stitch", "compose"], name="plain"),
    ...                MapOptions(out, "polar", resolution=1.0, mode="ck", backplanes=True))
    >>> [Path(p).name for p in rec["outputs"]]
    ['JNCS_2026329_99C00001_V01-map-polar-plain.png',
     'JNCS_2026329_99C00001_V01-map-polar-backplanes.npz',
     'JNCS_2026329_99C00001_V01-map-polar-plain.json']
    >>> rec["geometry"]["attitude"], rec["grid"]["pole"]
    ('ck', 'south')
    """
    gis_bits = GEOTIFF_FORMATS.get(mopts.fmt)
    if gis_bits:
        require_gis()  # before the work, not after
    t0 = time.perf_counter()
    frame = read_frame(path, metadata, max_pixels=max_pixels)
    protect = (*mopts.protect, *(Path(p) for p in (frame.path, frame.meta.source) if p))
    geo = geometry or frame_geometry(
        frame,
        kernels,
        mode=mopts.mode,
        time_offset=mopts.time_offset,
        cache=mopts.cache,
        target=mopts.target,
    )
    t_geo = time.perf_counter() - t0
    result, projected = map_frame(
        frame, geo, pipeline, mopts.projection, mopts.resolution, calibration=calibration
    )
    stem = f"{frame.meta.product_id}-map-{mopts.projection}"
    out = mopts.out_dir
    image = out / f"{stem}-{pipeline.name}{'.tif' if gis_bits else FORMATS[mopts.fmt]}"
    kernel_paths = list(kernels.paths)
    if gis_bits:
        tags = {
            "product_id": frame.meta.product_id,
            "input": str(frame.path),
            "kernels": kernel_paths,
            "recipe": pipeline.name,
            "recipe_digest": pipeline.digest(),
        }
        written = write_map_geotiffs(
            image, stem, result, projected, mopts, bits=gis_bits, tags=tags, protect=protect
        )
        record = map_record(frame, projected, geo, kernel_paths, pipeline, result, t0, t_geo)
        record |= {"band_units": "linear DN" if mopts.bands else None, "outputs": written}
        return write_sidecar(out / f"{stem}-{pipeline.name}.json", record, protect)
    if mopts.alpha:  # transparent where no band covers the map
        rgb = result.rgba()
    else:
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
        write_npz(
            p, protect, exposure=projected.exposure, **projected.backplanes.as_dict(), **arrays
        )
        outputs.append(str(p))
    record = map_record(frame, projected, geo, kernel_paths, pipeline, result, t0, t_geo)
    record |= {"band_scale": band_scale, "outputs": outputs}
    return write_sidecar(out / f"{stem}-{pipeline.name}.json", record, protect)


def map_record(
    frame: RawFrame,
    projected: MapResult,
    geo: FrameGeometry,
    kernel_paths: list[str],
    pipeline: Pipeline,
    result: PipelineResult,
    t0: float,
    t_geo: float,
) -> dict[str, Any]:
    """The sidecar's content of a frame's map (without ``outputs``)."""
    return {
        "product_id": frame.meta.product_id,
        "input": frame.path,
        "grid": projected.grid.to_dict(),
        "target": geo.ephemeris.target.as_dict(),
        "geometry": geo.as_dict(),
        "kernels": kernel_paths,
        "pipeline": pipeline.name,
        "pipeline_digest": pipeline.digest(),
        "notes": result.notes,
        "junocam_version": __version__,
        "timings_s": {
            "geometry": round(t_geo, 3),
            **{k: round(v, 3) for k, v in result.timings.items()},
        },
    }


def write_map_geotiffs(
    image: Path,
    stem: str,
    result: PipelineResult,
    projected: MapResult,
    mopts: MapOptions,
    *,
    bits: int,
    tags: dict[str, Any],
    protect: tuple[Path, ...],
) -> list[str]:
    """Write a frame's map as GeoTIFF: colour, optional bands and backplanes.

    The colour map is RGBA (alpha 0 = no coverage); each band's linear map
    (``<stem>-<band>.tif``, float32 in the framelets' linear DN) and the backplanes
    (``<stem>-backplanes.tif``: latitude, west longitude, incidence, emission, phase,
    contributing exposure, range) are float32 with NaN as nodata. Returns the paths.
    """
    grid = projected.grid
    if mopts.alpha:
        rgba = result.rgba()
        rgb, coverage = rgba[..., :3], rgba[..., 3]
    else:
        rgb, coverage = result.rgb, result.mask
    write_colour_geotiff(image, rgb, coverage, grid, bits=bits, tags=tags, protect=protect)
    outputs = [str(image)]
    if mopts.bands:
        for b, v in projected.bands.items():
            p = image.parent / f"{stem}-{b.value.lower()}.tif"
            plane = np.where(projected.masks[b], v, np.nan)
            write_float_geotiff(
                p,
                {b.value.lower(): plane},
                grid,
                units={b.value.lower(): "linear DN"},
                tags=tags | {"band": b.value},
                protect=protect,
            )
            outputs.append(str(p))
    if mopts.backplanes:
        p = image.parent / f"{stem}-backplanes.tif"
        planes = dict(projected.backplanes.as_dict())
        planes["exposure"] = np.where(projected.exposure >= 0, projected.exposure, np.nan)
        if projected.range_km is not None:
            planes["range_km"] = projected.range_km
        write_float_geotiff(p, planes, grid, units=BACKPLANE_UNITS, tags=tags, protect=protect)
        outputs.append(str(p))
    return outputs


def run_projected(
    frame: RawFrame,
    geo: FrameGeometry,
    pipeline: Pipeline,
    grid: MapGrid,
    calibration: Calibration | None,
) -> tuple[PipelineResult, MapResult]:
    """Run ``pipeline`` with the projection onto ``grid`` in place of stitching."""
    holder: list[MapResult] = []

    def projector(fr: Framelets) -> MapResult:
        # the geometry interpolated over straight blocks of the map (within
        # INTERPOLATION_TOLERANCE_PX of the exact inverse mapping)
        holder.append(project_frame(fr, geo.view, grid, interpolate=True))
        return holder[-1]

    result = pipeline.run(frame, calibration=calibration, projector=projector, spin_fit=geo.fit)
    return result, holder[0]
