"""Planet-geometry commands of the ``junocam`` CLI: ``geometry`` (and ``map``).

Kept apart from :mod:`junocam.cli` so the SPICE-dependent commands stay together;
they are registered on the same ``junocam`` group and share its error handling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .calibrate import load_calibration
from .cli import (
    _CONTEXT,
    GlobalOptions,
    _calibration_option,
    _check_single,
    _filters_option,
    _for_each,
    _format_option,
    _load,
    _load_pipeline,
    _metadata_option,
    _out_option,
    _recipe_options,
    main,
)
from .metadata import Filter
from .output import ensure_output_dir

__all__ = ["geometry_cmd", "map_cmd"]


def _kernels_option(required: bool = True) -> Any:
    return click.option(
        "--kernels",
        "kernel_paths",
        multiple=True,
        required=required,
        type=click.Path(exists=True, path_type=str),
        metavar="PATH",
        help="SPICE meta-kernel, kernel file or folder of kernels (repeatable). "
        "Needs an LSK, a PCK and an SPK covering the frame; a CK adds the attitude.",
    )


@main.command("geometry", context_settings=_CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@_kernels_option()
@_metadata_option
@_filters_option
@click.option(
    "--time-offset",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds added to every exposure time (start-time correction).",
)
@click.pass_context
def geometry_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    kernel_paths: Sequence[str],
    metadata: str | None,
    filters: Sequence[Filter] | None,
    time_offset: float,
) -> None:
    """Print the sub-spacecraft point of every exposure of FRAMES as JSON.

    Latitude is planetographic, longitude System III west, altitude above the
    reference ellipsoid; each exposure is evaluated at mid-exposure with light-time
    and aberration correction. When the frame's metadata gives the sub-spacecraft
    point, "metadata_match" names the best-matching exposure and the differences.

    \b
    Examples:
      junocam geometry frame-raw.png --kernels kernels/
      junocam geometry a.png b.png --kernels juno.tm
    """
    from .spice import KernelSet, geometry_report

    _check_single(metadata, frames)
    opts: GlobalOptions = ctx.obj
    kernels = None

    def one(path: str) -> None:
        nonlocal kernels
        if kernels is None:
            kernels = KernelSet.from_path(list(kernel_paths))
        frame = _load(path, metadata, filters, opts)
        click.echo(json.dumps(geometry_report(frame.meta, kernels, time_offset), indent=2))

    _for_each(ctx, frames, one)


@main.command("map", context_settings=_CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@_kernels_option()
@_out_option
@click.option(
    "--projection",
    type=click.Choice(["equirectangular", "polar", "orthographic"]),
    default="equirectangular",
    show_default=True,
    help="Map projection (latitude planetographic, longitude System III west).",
)
@click.option(
    "--resolution",
    type=click.FloatRange(0.001, 30.0),
    metavar="DEG_PER_PX",
    help="Degrees per pixel [default: the frame's finest ground pixel].",
)
@click.option(
    "--navigate",
    "mode",
    type=click.Choice(["auto", "limb", "ck"]),
    default="auto",
    show_default=True,
    help="auto: CK attitude with the start time refined on the limb, or without a CK "
    "the attitude fitted to the limb and terminator; ck: the CK as is; limb: ignore "
    "any CK.",
)
@click.option("--bands", "write_bands", is_flag=True, help="Also write each band's linear map.")
@click.option(
    "--backplanes", is_flag=True, help="Also write lat/lon/incidence/emission/phase (.npz)."
)
@click.option(
    "--time-offset", type=float, default=0.0, show_default=True, help="Start-time correction, s."
)
@_recipe_options
@_calibration_option
@_format_option
@_metadata_option
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
    pipeline_name: str,
    overrides: Sequence[str],
    calibration: str | None,
    fmt: str,
    metadata: str | None,
) -> None:
    """Project FRAMES onto a map of Jupiter and write it with a JSON sidecar.

    Positions come from the SPK in --kernels; the camera attitude from a CK when
    one is given, otherwise it is navigated from the planet's limb and terminator
    (the fit's residual in pixels is printed). The recipe (-p) runs with the map
    projection in place of the stitcher; its `photometry` stage can divide out the
    lighting (e.g. --set photometry... in a recipe that has it, or -p map).

    \b
    Examples:
      junocam map frame-raw.png --kernels kernels/ --projection polar -o maps/
      junocam map frame-raw.png --kernels juno.tm --resolution 0.1 --backplanes -o maps/
    """
    from .cartography import MapOptions, map_file
    from .spice import KernelSet

    _check_single(metadata, frames)
    opts: GlobalOptions = ctx.obj
    pipeline = _load_pipeline(pipeline_name, overrides)
    calib = load_calibration(calibration) if calibration else None
    ensure_output_dir(out_dir)
    kernels = None

    def one(path: str) -> None:
        nonlocal kernels
        if kernels is None:
            kernels = KernelSet.from_path(list(kernel_paths))
        mopts = MapOptions(
            out_dir=out_dir,
            projection=projection,
            resolution=resolution,
            fmt=fmt,
            bands=write_bands,
            backplanes=backplanes,
            mode=mode,
            time_offset=time_offset,
        )
        rec = map_file(
            path,
            kernels,
            pipeline,
            mopts,
            metadata=metadata,
            max_pixels=opts.max_pixels,
            calibration=calib,
        )
        nav = rec["geometry"].get("navigation")
        how = rec["geometry"]["attitude"]
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

    _for_each(ctx, frames, one)
