"""Map commands: ``map``, ``mosaic``, ``globe`` and ``animate``.

They navigate frames with SPICE kernels (``map``, ``mosaic``, ``animate``) and
write map products through :mod:`junocam.maps`; ``globe`` renders a written map.

Examples
--------
>>> from click.testing import CliRunner
>>> "--projection" in CliRunner().invoke(map_cmd, ["--help"]).output
True
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..calibrate import load_calibration
from ..output import ensure_output_dir
from .options import (
    CONTEXT,
    GlobalOptions,
    alpha_option,
    calibration_option,
    check_single,
    for_each,
    kernels_option,
    load_pipeline,
    map_format_option,
    metadata_option,
    navigate_option,
    out_option,
    projection_option,
    recipe_options,
    report,
    resolution_option,
    target_option,
)

#: ``--no-cache``: navigate every frame afresh instead of reusing the geometry cache
no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Do not reuse or store frame geometry (spin fit, navigation) in the user cache "
    "($JUNOCAM_CACHE_DIR or the platform's cache folder).",
)


def _geometry_cache(no_cache: bool) -> Any:
    from ..maps.cache import GeometryCache

    return None if no_cache else GeometryCache()


__all__ = [
    "map_cmd",
    "mosaic_cmd",
    "globe_cmd",
    "animate_cmd",
]


def gis_check(ctx: click.Context, fmt: str, opts: GlobalOptions) -> None:
    """Exit 1 with the install hint, before any work, when GeoTIFF is asked for and
    rasterio/pyproj are missing."""
    if not fmt.startswith("geotiff"):
        return
    from ..maps.geotiff import require_gis

    try:
        require_gis()
    except Exception as err:  # noqa: BLE001 - one line, exit 1
        report(f"--format {fmt}", err, opts.debug)
        ctx.exit(1)


@click.command("map", context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@kernels_option()
@out_option
@projection_option("equirectangular")
@resolution_option
@navigate_option
@click.option("--bands", "write_bands", is_flag=True, help="Also write each band's linear map.")
@click.option(
    "--backplanes",
    is_flag=True,
    help="Also write lat/lon/incidence/emission/phase (.npz; a float32 GeoTIFF with "
    "--format geotiff).",
)
@click.option(
    "--time-offset", type=float, default=0.0, show_default=True, help="Start-time correction, s."
)
@target_option
@recipe_options
@calibration_option
@map_format_option
@alpha_option
@metadata_option
@no_cache_option
@click.pass_context
def map_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    kernel_paths: Sequence[str],
    out_dir: Path,
    projection: str,
    resolution: float | None,
    mode: str,
    write_bands: bool,
    backplanes: bool,
    time_offset: float,
    target: str | None,
    pipeline_name: str,
    overrides: Sequence[str],
    calibration: str | None,
    fmt: str,
    alpha: bool,
    metadata: str | None,
    no_cache: bool,
) -> None:
    """Project FRAMES onto a map of their target and write it with a JSON sidecar.

    The target is the frame's TARGET_NAME or --target (Jupiter, Io, Europa,
    Ganymede, Callisto: the kernels must hold its ephemeris and radii).

    Positions come from the SPK in --kernels; the camera attitude from a CK when
    one is given, otherwise it is navigated from the planet's limb and terminator
    (the fit's residual in pixels is printed). Several frames of one close moon
    flyby are navigated together, tied to one spin axis (which pins each frame's
    roll about the line of sight). The recipe (-p) runs with the map
    projection in place of the stitcher; its `photometry` stage can divide out the
    lighting (e.g. --set photometry... in a recipe that has it, or -p map).

    \b
    Examples:
      junocam map frame-raw.png --kernels kernels/ --projection polar -o maps/
      junocam map frame-raw.png --kernels juno.tm --resolution 0.1 --backplanes -o maps/
      junocam map frame-raw.png --kernels kernels/ --format geotiff --bands --backplanes -o gis/
    """
    from ..errors import JunoCamError
    from ..maps.frame import MapOptions, frame_geometries, map_file
    from ..planet.spice import KernelSet

    check_single(metadata, frames)
    opts: GlobalOptions = ctx.obj
    gis_check(ctx, fmt, opts)
    pipeline = load_pipeline(pipeline_name, overrides)
    calib = load_calibration(calibration) if calibration else None
    ensure_output_dir(out_dir)
    kernels = None
    tied: dict[str, Any] = {}
    if len(frames) > 1 and mode != "ck":
        # every frame navigated first, so that frames of one close moon flyby are
        # navigated together (one spin axis); a frame that fails here fails again, and
        # is reported, when it is mapped
        try:
            kernels = KernelSet.from_path(list(kernel_paths))
        except JunoCamError:
            kernels = None  # reported with each frame, as for one frame
    if kernels is not None:
        tied = frame_geometries(
            frames,
            kernels,
            mode=mode,
            time_offset=time_offset,
            target=target,
            cache=_geometry_cache(no_cache),
            metadata=metadata,
            max_pixels=opts.max_pixels,
        )

    def one(path: str) -> None:
        nonlocal kernels
        if kernels is None:
            kernels = KernelSet.from_path(list(kernel_paths))
        mopts = MapOptions(
            out_dir=out_dir,
            projection=projection,
            resolution=resolution,
            fmt=fmt,
            alpha=alpha,
            bands=write_bands,
            backplanes=backplanes,
            mode=mode,
            time_offset=time_offset,
            cache=_geometry_cache(no_cache),
            target=target,
        )
        rec = map_file(
            path,
            kernels,
            pipeline,
            mopts,
            metadata=metadata,
            max_pixels=opts.max_pixels,
            calibration=calib,
            geometry=tied.get(path),
        )
        nav = rec["geometry"].get("navigation")
        how = rec["geometry"]["attitude"]
        if nav and nav.get("tied_frames", 1) > 1:
            how += f" (one spin axis with {nav['tied_frames'] - 1} more frames)"
        if nav:
            click.echo(
                f"{rec['product_id']}: attitude from {how}: limb RMS {nav['limb_rms_px']:.2f} px "
                f"({nav['n_limb']} points), terminator RMS {nav['terminator_rms_px']:.2f} px, "
                f"time offset {nav['time_offset_s'] * 1000:+.1f} ms"
            )
        g = rec["grid"]
        click.echo(
            f"{rec['product_id']}: {g['projection']} map {g['cols']} x {g['rows']} px at "
            f"{g['resolution_deg_per_px']:.4f} deg/px -> {rec['outputs'][0]}"
        )

    for_each(ctx, frames, one)


@click.command("mosaic", context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@kernels_option()
@out_option
@projection_option("polar")
@resolution_option
@click.option("--name", default="mosaic", show_default=True, help="File stem of the outputs.")
@click.option("--no-gains", is_flag=True, help="Do not match the frames' brightness.")
@click.option("--bands", "write_bands", is_flag=True, help="Also write each band's linear mosaic.")
@navigate_option
@target_option
@recipe_options
@calibration_option
@map_format_option
@alpha_option
@no_cache_option
@click.pass_context
def mosaic_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    kernel_paths: Sequence[str],
    out_dir: Path,
    projection: str,
    resolution: float | None,
    name: str,
    no_gains: bool,
    write_bands: bool,
    mode: str,
    target: str | None,
    pipeline_name: str,
    overrides: Sequence[str],
    calibration: str | None,
    fmt: str,
    alpha: bool,
    no_cache: bool,
) -> None:
    """Blend several FRAMES of a pass into one map.

    Every frame is navigated (or uses the CK), the frames' brightness is matched band
    by band on their overlaps, and each map pixel blends the frames by quality
    (emission angle, feathered footprint edges). Writes the colour mosaic, a JSON
    sidecar (grid, per-frame navigation and gains), coverage and source-frame maps,
    and the backplanes (.npz). Frames are projected one at a time.

    \b
    Examples:
      junocam mosaic pj43/*-raw.png --kernels kernels/ -o mosaics/
      junocam mosaic a.png b.png c.png --kernels juno.tm --projection equirectangular -o out/
      junocam mosaic pj43/*-raw.png --kernels kernels/ --format geotiff16 -o gis/
    """
    from ..maps.mosaic import MosaicOptions, mosaic_files
    from ..planet.spice import KernelSet

    opts: GlobalOptions = ctx.obj
    gis_check(ctx, fmt, opts)
    pipeline = load_pipeline(pipeline_name, overrides)
    try:
        kernels = KernelSet.from_path(list(kernel_paths))
        calib = load_calibration(calibration) if calibration else None
        ensure_output_dir(out_dir)
        mopts = MosaicOptions(
            out_dir=out_dir,
            name=name,
            projection=projection,
            resolution=resolution,
            fit_gains=not no_gains,
            fmt=fmt,
            alpha=alpha,
            mode=mode,
            bands=write_bands,
            cache=_geometry_cache(no_cache),
            target=target,
        )
        rec = mosaic_files(
            list(frames),
            kernels,
            pipeline,
            mopts,
            calibration=calib,
            max_pixels=opts.max_pixels,
            progress=lambda msg: click.echo(msg, err=True),
        )
    except Exception as err:  # noqa: BLE001 - one line, no traceback, exit 1
        report(", ".join(frames), err, opts.debug)
        ctx.exit(1)
    failed = 0
    for f in rec["frames"]:
        if "error" in f:
            click.echo(f"error: {f['error']} (left out of the mosaic)", err=True)
            failed += 1
            continue
        nav = f.get("navigation", {})
        click.echo(
            f"{f['product_id']}: limb RMS {nav.get('limb_rms_px', float('nan')):.2f} px, "
            f"gains {f['gains']}"
        )
    g = rec["grid"]
    click.echo(
        f"mosaic {g['cols']} x {g['rows']} px at {g['resolution_deg_per_px']:.4f} deg/px "
        f"-> {rec['outputs'][0]}"
    )
    if failed:
        ctx.exit(1)


def _parse_latlon(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected LAT,LON in degrees, e.g. -60,120") from None
    if not -90 <= lat <= 90:
        raise click.BadParameter(f"latitude {lat} is outside [-90, 90]")
    return lat, lon % 360.0


@click.command("globe", context_settings=CONTEXT)
@click.argument("map_image", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--view",
    "view_at",
    required=True,
    callback=_parse_latlon,
    metavar="LAT,LON",
    help="Sub-camera point: planetographic latitude, west longitude (degrees).",
)
@click.option(
    "--distance",
    type=click.FloatRange(1.01, 1e4),
    default=3.0,
    show_default=True,
    help="Camera distance from Jupiter's centre, equatorial radii.",
)
@click.option(
    "--fov",
    type=click.FloatRange(0.1, 170.0),
    default=45.0,
    show_default=True,
    help="Horizontal field of view, degrees.",
)
@click.option(
    "--size",
    type=click.IntRange(16, 16384),
    default=1000,
    show_default=True,
    help="Image width and height, pixels.",
)
@click.option(
    "--roll",
    type=float,
    default=0.0,
    show_default=True,
    help="Image roll about the line of sight, degrees.",
)
@click.option(
    "--sun",
    callback=_parse_latlon,
    metavar="LAT,LON",
    help="Light the globe from this subsolar point (default: the map's own light).",
)
@click.option("--stars", is_flag=True, help="A starry background instead of black.")
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output image (.png).",
)
@target_option
@click.pass_context
def globe_cmd(
    ctx: click.Context,
    map_image: str,
    view_at: tuple[float, float],
    distance: float,
    fov: float,
    size: int,
    roll: float,
    sun: tuple[float, float] | None,
    stars: bool,
    out_path: Path,
    target: str | None,
) -> None:
    """Render MAP_IMAGE (from `junocam map` or `mosaic`, with its JSON sidecar) on
    the target's ellipsoid (from the sidecar, or --target) seen from a virtual camera.

    \b
    Examples:
      junocam globe maps/mosaic-polar-enhanced.png --view -60,150 --distance 2.5 -o globe.png
      junocam globe map.png --view 0,0 --distance 4 --sun 0,30 --stars -o lit.png
    """
    from ..maps.globe import GlobeView, render_globe
    from ..maps.store import load_map
    from ..output import write_png
    from ..planet.targets import target_named

    opts: GlobalOptions = ctx.obj
    if out_path.suffix.lower() != ".png":
        raise click.BadParameter("the globe is written as a .png", param_hint="-o")
    try:
        img, grid, mask = load_map(map_image)
        if target is not None:
            grid = replace(grid, body=target_named(target).ellipsoid)
        view = GlobeView(view_at[0], view_at[1], distance, fov, size, roll)
        rgb, _ = render_globe(
            img, grid, view, mask=mask, sun=sun, background="stars" if stars else "black"
        )
        write_png(out_path, rgb if rgb.shape[2] > 1 else rgb[..., 0], bits=8, protect=[map_image])
    except Exception as err:  # noqa: BLE001
        report(map_image, err, opts.debug)
        ctx.exit(1)
    click.echo(f"wrote {out_path}")


@click.command("animate", context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@kernels_option()
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Movie file: .gif (always) or .mp4 (needs imageio-ffmpeg).",
)
@click.option(
    "--steps",
    type=click.IntRange(1, 200),
    default=8,
    show_default=True,
    help="Rendered views between consecutive frames.",
)
@click.option(
    "--size",
    type=click.IntRange(16, 4096),
    default=480,
    show_default=True,
    help="Movie width and height, pixels.",
)
@click.option("--fov", type=click.FloatRange(1.0, 170.0), default=50.0, show_default=True)
@click.option("--fps", type=click.FloatRange(1.0, 60.0), default=12.0, show_default=True)
@resolution_option
@click.option("--stars", is_flag=True, help="A starry background.")
@navigate_option
@target_option
@recipe_options
@no_cache_option
@click.pass_context
def animate_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    kernel_paths: Sequence[str],
    out_path: Path,
    steps: int,
    size: int,
    fov: float,
    fps: float,
    resolution: float | None,
    stars: bool,
    mode: str,
    target: str | None,
    pipeline_name: str,
    overrides: Sequence[str],
    no_cache: bool,
) -> None:
    """Fly past the target along the spacecraft's path, the FRAMES projected on the globe.

    The target is the frames' TARGET_NAME or --target.

    The frames are mosaicked onto a cylindrical map, then the globe is rendered from
    the spacecraft's position at every frame and ``--steps`` views between them.

    \b
    Examples:
      junocam animate pj43/*-raw.png --kernels kernels/ -o flyby.gif
      junocam animate pj43/*-raw.png --kernels kernels/ --steps 20 --size 720 -o flyby.mp4
    """
    from ..maps.flyby import encode_movie, flyby_views
    from ..maps.globe import render_globe
    from ..maps.mosaic import MosaicOptions, mosaic_frames
    from ..planet.spice import KernelSet

    opts: GlobalOptions = ctx.obj
    pipeline = load_pipeline(pipeline_name, overrides)
    try:
        if out_path.suffix.lower() not in (".gif", ".mp4"):
            raise click.BadParameter("the movie must be a .gif or .mp4", param_hint="-o")
        kernels = KernelSet.from_path(list(kernel_paths))
        mopts = MosaicOptions(
            out_dir=out_path.parent,
            projection="equirectangular",
            resolution=resolution,
            mode=mode,
            cache=_geometry_cache(no_cache),
            target=target,
        )
        mosaic, result, records, _ = mosaic_frames(
            list(frames),
            kernels,
            pipeline,
            mopts,
            max_pixels=opts.max_pixels,
            progress=lambda msg: click.echo(msg, err=True),
        )
        positions = [np.array(r["observer_mid_km"]) for r in records if "error" not in r]
        views = flyby_views(positions, steps, fov_deg=fov, size=size, body=mosaic.grid.body)
        from rich.progress import Progress

        rendered = []
        with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("rendering", total=len(views))
            for v in views:
                img, _ = render_globe(
                    result.rgb,
                    mosaic.grid,
                    v,
                    mask=result.mask,
                    background="stars" if stars else "black",
                )
                rendered.append(img)
                bar.advance(task)
        encode_movie(out_path, rendered, fps=fps, protect=list(frames))
    except click.BadParameter:
        raise
    except Exception as err:  # noqa: BLE001
        report(", ".join(frames), err, opts.debug)
        ctx.exit(1)
    click.echo(f"wrote {out_path} ({len(views)} frames)")
