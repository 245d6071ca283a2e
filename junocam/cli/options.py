"""What every command shares: global options, option decorators, error reporting.

Kept in one module that imports no command, so every command module can use it
and :mod:`junocam.cli.app` can import every command module without a cycle.
:func:`for_each` runs one frame at a time and turns each failure into one
``error: <path>: <message>`` line (a traceback only under ``--debug``).

Examples
--------
>>> import click
>>> from click.testing import CliRunner
>>> @click.command()
... @click.pass_context
... def fail(ctx):
...     ctx.obj = GlobalOptions()
...     for_each(ctx, ["a.png"], lambda p: (_ for _ in ()).throw(ValueError("bad")))
>>> r = CliRunner().invoke(fail)
>>> r.exit_code, "a.png: internal error (ValueError: bad)" in r.output
(1, True)
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..decode import DEFAULT_MAX_PIXELS, RawFrame, read_frame
from ..errors import JunoCamError, RecipeError
from ..metadata import Filter, FrameMeta
from ..pipeline.engine import DefaultPipeline, Pipeline
from ..pipeline.recipes import DEFAULT_RECIPE
from ..process import FORMATS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass(frozen=True)
class GlobalOptions:
    """Options of the ``junocam`` group shared by every command."""

    debug: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


def report(path: str, err: BaseException, debug: bool) -> None:
    """One error line on stderr (traceback first when debugging)."""
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, JunoCamError):
        line = str(err) if err.path is not None else f"{path}: {err.message}"
    else:
        hint = "" if debug else "; run with --debug for the traceback"
        line = f"{path}: internal error ({type(err).__name__}: {err}){hint}"
    click.echo(f"error: {line}", err=True)


def for_each(ctx: click.Context, frames: Iterable[str], work: Callable[[str], None]) -> None:
    """Run ``work`` on every frame; report failures; exit 1 if any failed."""
    opts: GlobalOptions = ctx.obj
    failed = 0
    for path in frames:
        try:
            work(path)
        except Exception as err:  # noqa: BLE001 - one bad frame must not stop the others
            report(path, err, opts.debug)
            failed += 1
    if failed:
        ctx.exit(1)


def parse_filters(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[Filter, ...] | None:
    if value is None:
        return None
    try:
        return tuple(Filter.parse(v) for v in value.split(",") if v.strip())
    except JunoCamError as err:
        raise click.BadParameter(err.message) from None


def note_assumed(frame: RawFrame) -> None:
    """Tell the user which values were assumed rather than read from the product."""
    if frame.meta.assumed:
        values = ", ".join(f"{name}={field_text(frame.meta, name)}" for name in frame.meta.assumed)
        click.echo(f"note: {frame.path}: assumed {values}", err=True)


def field_text(meta: FrameMeta, name: str) -> str:
    value = getattr(meta, name, None)
    if name == "filters":
        return ",".join(f.value for f in meta.filters)
    if value is not None and hasattr(value, "value"):
        return str(value.value)
    return str(value)


def frame_inputs(frame: RawFrame, *extra: str | Path | None) -> tuple[Path, ...]:
    paths = [frame.path, frame.meta.source, *extra]
    return tuple(Path(p) for p in paths if p is not None)


def filters_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--filters",
        callback=parse_filters,
        metavar="B,G,R",
        help="Filters in readout order when the metadata lacks them, e.g. BLUE,GREEN,RED "
        "or M (methane). Recorded as assumed.",
    )(f)


def metadata_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--metadata",
        type=click.Path(dir_okay=False, path_type=str),
        help="Metadata JSON or PDS3 label (only with a single FRAME).",
    )(f)


def out_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o",
        "--out",
        "out_dir",
        required=True,
        type=click.Path(path_type=Path),
        help="Output directory (created if missing).",
    )(f)


def recipe_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="STAGE.PARAM=VALUE",
        help="Override a recipe parameter, e.g. --set stretch.high=99.5 (repeatable).",
    )(f)
    return click.option(
        "-p",
        "--pipeline",
        "pipeline_name",
        default=None,
        metavar="NAME|FILE.toml",
        help="Built-in recipe (see `junocam pipelines`) or a recipe file "
        "[default: enhanced; mono for single-band frames].",
    )(f)


def calibration_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--calibration",
        type=click.Path(exists=True, file_okay=False, path_type=str),
        help="Folder of per-band darks, flats and bad-pixel masks.",
    )(f)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(sorted(FORMATS)),
        default="png8",
        show_default=True,
        help="Output format.",
    )(f)


#: ``map``/``mosaic`` formats: the image formats and GeoTIFF (junocam.maps.geotiff).
MAP_FORMATS = (*sorted(FORMATS), "geotiff", "geotiff16")


def map_format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(MAP_FORMATS),
        default="png8",
        show_default=True,
        help="Output format. geotiff/geotiff16: GIS-ready GeoTIFF (8/16-bit colour; the "
        "bands and backplanes as float32) in the body's CRS; needs junocam[gis].",
    )(f)


def alpha_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--alpha",
        is_flag=True,
        help="Write RGBA: transparent where not every band has data (the feathered "
        "coverage edge as partial transparency) instead of fading into the sky.",
    )(f)


def check_single(metadata: str | None, frames: Sequence[str]) -> None:
    if metadata is not None and len(frames) > 1:
        raise click.UsageError("--metadata can only be used with a single FRAME")


def load_frame(
    path: str,
    metadata: str | None,
    filters: Sequence[Filter] | None,
    opts: GlobalOptions,
    **kw: Any,
) -> RawFrame:
    frame = read_frame(path, metadata, filters=filters, max_pixels=opts.max_pixels, **kw)
    note_assumed(frame)
    return frame


def load_pipeline(name: str | None, overrides: Sequence[str]) -> Pipeline:
    """The recipe with its overrides; a bad one is one ``error:`` line and exit code 2.

    Commands that make one product from several frames (map, mosaic) use this: no
    name means the ``enhanced`` recipe.
    """
    try:
        return Pipeline.named(name or DEFAULT_RECIPE).with_overrides(overrides)
    except RecipeError as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(2) from None


def load_default_or_named(name: str | None, overrides: Sequence[str]) -> Pipeline | DefaultPipeline:
    """The named recipe, or without a name the per-frame default (mono or enhanced)."""
    if name is not None:
        return load_pipeline(name, overrides)
    auto = DefaultPipeline(tuple(overrides))
    try:
        auto.validate()
    except RecipeError as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(2) from None
    return auto


def kernels_option(required: bool = True) -> Any:
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


def projection_option(default: str) -> Any:
    return click.option(
        "--projection",
        type=click.Choice(["equirectangular", "polar", "orthographic"]),
        default=default,
        show_default=True,
        help="Map projection (latitude planetographic, longitude west-positive: System "
        "III for Jupiter, the IAU prime meridian for a moon).",
    )


target_option = click.option(
    "--target",
    type=click.Choice(["JUPITER", "IO", "EUROPA", "GANYMEDE", "CALLISTO"], case_sensitive=False),
    default=None,
    help="Target body [default: the frame's TARGET_NAME, Jupiter when it names no body].",
)


resolution_option = click.option(
    "--resolution",
    type=click.FloatRange(0.001, 30.0),
    metavar="DEG_PER_PX",
    help="Degrees per pixel of the map [default: the finest ground pixel of the frames].",
)


navigate_option = click.option(
    "--navigate",
    "mode",
    type=click.Choice(["auto", "limb", "ck"]),
    default="auto",
    show_default=True,
    help="auto: CK attitude with the start time refined on the limb, or without a CK "
    "the attitude fitted to the limb and terminator; ck: the CK as is; limb: ignore any CK.",
)
