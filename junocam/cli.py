"""The ``junocam`` command line: a thin click layer over the package's functions.

Commands: ``info`` (describe a frame), ``split`` (one image per band or per
framelet) and ``process`` (decode, decompand, split, compose, write). Every frame
is handled on its own: a frame that fails prints one line
``error: <path>: <message>`` on stderr (with a traceback only under ``--debug``)
and the other frames are still processed.

Exit codes: 0 when every frame succeeded, 1 when any frame failed, 2 on a usage
error (bad option or argument).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import __version__
from .calibrate import Calibration, load_calibration
from .compose import contact_sheet
from .decode import DEFAULT_MAX_PIXELS, RawFrame, load_metadata, read_frame
from .errors import FormatError, JunoCamError, OutputError, RecipeError
from .framelets import Framelets, split
from .geometry import fit_frame_spin
from .metadata import Filter, FrameMeta, exposure_start_time
from .output import atomic_write, ensure_output_dir, write_png
from .pipeline import STAGES, Pipeline, builtin_recipes
from .process import FORMATS, ProcessOptions, process_file

__all__ = ["main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass(frozen=True)
class GlobalOptions:
    """Options of the ``junocam`` group shared by every command."""

    debug: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


# ---------------------------------------------------------------------------
# Shared helpers


def _report(path: str, err: BaseException, debug: bool) -> None:
    """One error line on stderr (traceback first when debugging)."""
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, JunoCamError):
        line = str(err) if err.path is not None else f"{path}: {err.message}"
    else:
        hint = "" if debug else "; run with --debug for the traceback"
        line = f"{path}: internal error ({type(err).__name__}: {err}){hint}"
    click.echo(f"error: {line}", err=True)


def _for_each(ctx: click.Context, frames: Iterable[str], work: Callable[[str], None]) -> None:
    """Run ``work`` on every frame; report failures; exit 1 if any failed."""
    opts: GlobalOptions = ctx.obj
    failed = 0
    for path in frames:
        try:
            work(path)
        except Exception as err:  # noqa: BLE001 - one bad frame must not stop the others
            _report(path, err, opts.debug)
            failed += 1
    if failed:
        ctx.exit(1)


def _parse_filters(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[Filter, ...] | None:
    if value is None:
        return None
    try:
        return tuple(Filter.parse(v) for v in value.split(",") if v.strip())
    except JunoCamError as err:
        raise click.BadParameter(err.message) from None


def _note_assumed(frame: RawFrame) -> None:
    """Tell the user which values were assumed rather than read from the product."""
    if frame.meta.assumed:
        values = ", ".join(f"{name}={_field_text(frame.meta, name)}" for name in frame.meta.assumed)
        click.echo(f"note: {frame.path}: assumed {values}", err=True)


def _field_text(meta: FrameMeta, name: str) -> str:
    value = getattr(meta, name, None)
    if name == "filters":
        return ",".join(f.value for f in meta.filters)
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def _inputs(frame: RawFrame, *extra: str | Path | None) -> tuple[Path, ...]:
    paths = [frame.path, frame.meta.source, *extra]
    return tuple(Path(p) for p in paths if p is not None)


# ---------------------------------------------------------------------------
# The group


@click.group(context_settings=_CONTEXT)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse input images with more pixels than this (checked before decoding).",
)
@click.version_option(__version__, prog_name="junocam")
@click.pass_context
def main(ctx: click.Context, debug: bool, max_pixels: int) -> None:
    """Turn raw NASA Juno JunoCam frames into colour pictures.

    Raw frames are the mission website's *-raw.png strips (with their
    *-Metadata.json) or PDS3 products (.LBL/.IMG).

    \b
    Examples:
      junocam info JNCE_2022186_43C00078_V01-raw.png
      junocam split JNCE_2022186_43C00078_V01-raw.png -o bands/
      junocam process raw/*/*-raw.png -o out/
      junocam --debug process broken-raw.png -o out/
    """
    ctx.obj = GlobalOptions(debug=debug, max_pixels=max_pixels)


# ---------------------------------------------------------------------------
# info


def describe(frame: RawFrame | None, meta: FrameMeta) -> dict[str, Any]:
    """A JSON-ready description of a frame (``frame`` None when only metadata is known).

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> d = describe(None, assumed_meta(768))
    >>> d["n_exposures"], d["filters"], d["first_exposure_start"]
    (2, ['BLUE', 'GREEN', 'RED'], None)
    """
    first = last = None
    if meta.start_time is not None and meta.interframe_delay is not None:
        first = exposure_start_time(meta, 0).isoformat()
        last = exposure_start_time(meta, -1).isoformat()
    return {
        "product_id": meta.product_id,
        "image": None if frame is None else frame.path,
        "metadata": meta.source,
        "title": meta.title,
        "target": meta.target,
        "perijove": meta.perijove,
        "width": meta.line_samples,
        "lines": meta.lines,
        "sample_type": None if frame is None else str(frame.pixels.dtype),
        "filters": [f.value for f in meta.filters],
        "n_exposures": meta.n_exposures,
        "n_framelets": meta.n_exposures * meta.n_filters,
        "framelet_lines": meta.framelet_lines,
        "companding": meta.companding.value,
        "exposure_duration_s": meta.exposure_duration,
        "tdi_stages": meta.tdi_stages,
        "interframe_delay_s": meta.interframe_delay,
        "start_time": None if meta.start_time is None else meta.start_time.isoformat(),
        "stop_time": None if meta.stop_time is None else meta.stop_time.isoformat(),
        "first_exposure_start": first,
        "last_exposure_start": last,
        "assumed": list(meta.assumed),
    }


def _format_info(d: dict[str, Any]) -> str:
    assumed = set(d["assumed"])

    def mark(*names: str) -> str:
        return " (assumed)" if assumed.intersection(names) else ""

    def val(v: Any, unit: str = "") -> str:
        return "unknown" if v is None else f"{v}{unit}"

    exposure = d["exposure_duration_s"]
    exp_text = "unknown" if exposure is None else f"{exposure * 1000:g} ms"
    rows = [
        ("product", d["product_id"] + mark("product_id")),
        ("image", val(d["image"]) if d["image"] else "not read"),
        ("metadata", d["metadata"] or "none (values assumed from the image)"),
        ("title", val(d["title"])),
        ("target", val(d["target"])),
        ("perijove", val(d["perijove"])),
        ("size", f"{d['width']} x {d['lines']} samples x lines" + mark("line_samples")),
        ("filters", ", ".join(d["filters"]) + " (readout order)" + mark("filters")),
        (
            "framelets",
            f"{d['n_exposures']} exposures x {len(d['filters'])} filters = "
            f"{d['n_framelets']} framelets of {d['framelet_lines']} lines",
        ),
        ("companding", d["companding"] + mark("companding")),
        ("exposure", f"{exp_text}, TDI {val(d['tdi_stages'])}"),
        ("interframe", val(d["interframe_delay_s"], " s") + mark("interframe_delay")),
        ("start", val(d["start_time"])),
        ("stop", val(d["stop_time"])),
        ("first exp.", val(d["first_exposure_start"])),
        ("last exp.", val(d["last_exposure_start"])),
    ]
    if assumed:
        rows.append(("assumed", ", ".join(d["assumed"]) + " (not read from the product)"))
    return "\n".join(f"{k + ':':<12} {v}" for k, v in rows)


@main.command(context_settings=_CONTEXT)
@click.argument("frame", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=str),
    help="Metadata JSON or PDS3 label, when it is not found beside the image.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@click.option(
    "--fit",
    "do_fit",
    is_flag=True,
    help="Also self-calibrate the spin from the framelet overlaps and show the fitted "
    "turn, spin rate, axis tilt, band scales and residuals (takes seconds).",
)
@click.pass_context
def info(ctx: click.Context, frame: str, metadata: str | None, as_json: bool, do_fit: bool) -> None:
    """Describe a raw frame: metadata, exposures x filters, times, companding.

    A PNG without metadata is described from the image alone; assumed values are
    marked "(assumed)". A PDS3 label whose image is missing is still described,
    and the missing image is reported as an error (exit 1).

    \b
    Examples:
      junocam info JNCE_2022186_43C00078_V01-raw.png
      junocam info --json JNCE_2022186_43C00078_V01-raw.png
      junocam info frame-raw.png --metadata 13537-Metadata.json
      junocam info JNCE_2017038_04C00586_V01.LBL
      junocam info --fit JNCE_2022186_43C00080_V01-raw.png
    """
    opts: GlobalOptions = ctx.obj

    def work(path: str) -> None:
        try:
            raw = read_frame(path, metadata, max_pixels=opts.max_pixels)
        except FormatError:
            if not path.lower().endswith(".lbl"):
                raise
            _print_info(describe(None, load_metadata(path)), as_json)
            raise
        d = describe(raw, raw.meta)
        if do_fit:
            fit = fit_frame_spin(
                split(raw.linear(), raw.meta.filters, raw.meta.framelet_lines),
                raw.meta.interframe_delay,
            )
            d["spin_fit"] = fit.as_dict(raw.meta.interframe_delay)
        _print_info(d, as_json)

    _for_each(ctx, [frame], work)


def _print_info(d: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(_format_info({k: v for k, v in d.items() if k != "spin_fit"}))
    fit = d.get("spin_fit")
    if fit:
        click.echo("spin (self-calibrated from framelet overlaps):")
        for key, value in fit.items():
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            click.echo(f"  {key:30s} {text}")


# ---------------------------------------------------------------------------
# split


def _filters_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--filters",
        callback=_parse_filters,
        metavar="B,G,R",
        help="Filters in readout order when the metadata lacks them, e.g. BLUE,GREEN,RED "
        "or M (methane). Recorded as assumed.",
    )(f)


def _metadata_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--metadata",
        type=click.Path(dir_okay=False, path_type=str),
        help="Metadata JSON or PDS3 label (only with a single FRAME).",
    )(f)


def _out_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o",
        "--out",
        "out_dir",
        required=True,
        type=click.Path(path_type=Path),
        help="Output directory (created if missing).",
    )(f)


def _recipe_options(f: Callable[..., Any]) -> Callable[..., Any]:
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
        default="enhanced",
        show_default=True,
        metavar="NAME|FILE.toml",
        help="Built-in recipe (see `junocam pipelines`) or a recipe file.",
    )(f)


def _calibration_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--calibration",
        type=click.Path(exists=True, file_okay=False, path_type=str),
        help="Folder of per-band darks, flats and bad-pixel masks.",
    )(f)


def _format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(sorted(FORMATS)),
        default="png8",
        show_default=True,
        help="Output format.",
    )(f)


def _check_single(metadata: str | None, frames: Sequence[str]) -> None:
    if metadata is not None and len(frames) > 1:
        raise click.UsageError("--metadata can only be used with a single FRAME")


def _load(
    path: str,
    metadata: str | None,
    filters: Sequence[Filter] | None,
    opts: GlobalOptions,
    **kw: Any,
) -> RawFrame:
    frame = read_frame(path, metadata, filters=filters, max_pixels=opts.max_pixels, **kw)
    _note_assumed(frame)
    return frame


def split_outputs(
    frame: RawFrame, out_dir: Path, per_framelet: bool
) -> list[tuple[Path, np.ndarray]]:
    """(path, image) pairs that ``split`` writes: raw samples, one per band or framelet."""
    fr: Framelets = frame.framelets
    pid = frame.meta.product_id
    items: list[tuple[Path, np.ndarray]] = []
    for f in fr.filters:
        band = fr.band(f)
        if per_framelet:
            for i in range(fr.n_exposures):
                items.append((out_dir / f"{pid}-{f.value}-{i:03d}.png", band[i]))
        else:
            items.append((out_dir / f"{pid}-{f.value}.png", band.reshape(-1, band.shape[-1])))
    return items


@main.command("split", context_settings=_CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@_out_option
@click.option("--per-framelet", is_flag=True, help="Write every framelet as its own image.")
@_metadata_option
@_filters_option
@click.pass_context
def split_cmd(
    ctx: click.Context,
    frames: tuple[str, ...],
    out_dir: Path,
    per_framelet: bool,
    metadata: str | None,
    filters: tuple[Filter, ...] | None,
) -> None:
    """Split raw frames into one image per band (framelets stacked in time order).

    Images keep the raw samples (8-bit companded codes, or 16-bit for RDRs) and
    the full 1648-sample width. Files are named <product_id>-<BAND>.png, or
    <product_id>-<BAND>-<NNN>.png with --per-framelet.

    \b
    Examples:
      junocam split JNCE_2022186_43C00078_V01-raw.png -o bands/
      junocam split JNCE_2022186_43C00078_V01-raw.png -o bands/ --per-framelet
      junocam split old-raw.png --filters BLUE,GREEN,RED -o bands/
    """
    opts: GlobalOptions = ctx.obj
    _check_single(metadata, frames)

    def work(path: str) -> None:
        frame = _load(path, metadata, filters, opts)
        ensure_output_dir(out_dir)
        bits = 16 if frame.pixels.dtype == np.uint16 else 8
        for target, img in split_outputs(frame, out_dir, per_framelet):
            write_png(target, img, bits=bits, protect=_inputs(frame, path))
        click.echo(f"{frame.path}: wrote {frame.meta.n_filters} band(s) to {out_dir}")

    _for_each(ctx, frames, work)


# ---------------------------------------------------------------------------
# process


def geometry_overrides(
    geometry: str | None,
    fov: float | None,
    size: int | None,
    center: tuple[float, float] | None,
    fast: bool,
) -> list[str]:
    """Command-line geometry options as ``stitch.*`` recipe overrides.

    Examples
    --------
    >>> geometry_overrides("perspective", 30.0, None, None, True)
    ['stitch.geometry="perspective"', 'stitch.fov_deg=30.0', 'stitch.scale=0.5']
    """
    out = []
    if geometry is not None:
        out.append(f'stitch.geometry="{geometry}"')
    if fov is not None:
        out.append(f"stitch.fov_deg={fov}")
    if size is not None:
        out.append(f"stitch.size={size}")
    if center is not None:
        out += [f"stitch.center_row={center[0]}", f"stitch.center_col={center[1]}"]
    if fast:
        out.append("stitch.scale=0.5")
    return out


def process_frame(
    path: str,
    metadata: str | None,
    filters: Sequence[Filter] | None,
    delay: float | None,
    opts: GlobalOptions,
    popts: ProcessOptions,
    pipeline: Pipeline | None = None,
    calibration: Calibration | None = None,
) -> Path:
    """``junocam process`` for one frame: :func:`junocam.process.process_file`, then
    tell the user what was assumed, skipped and fitted."""
    pipeline = pipeline or Pipeline.named("raw").with_overrides(['stitch.geometry="naive"'])
    done = process_file(
        path,
        pipeline,
        popts,
        metadata=metadata,
        filters=filters,
        interframe_delay=delay,
        max_pixels=opts.max_pixels,
        calibration=calibration,
    )
    if done.meta.assumed:
        values = ", ".join(f"{n}={_field_text(done.meta, n)}" for n in done.meta.assumed)
        click.echo(f"note: {path}: assumed {values}", err=True)
    for note in done.notes:
        click.echo(f"note: {path}: {note}", err=True)
    if done.fit is not None:
        click.echo(f"{path}: spin: {done.fit.message}", err=True)
    return done.image


def _parse_center(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        r, c = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected ROW,COL in spin-cylinder pixels") from None
    if r < 0 or c < 0:
        raise click.BadParameter("ROW and COL must not be negative")
    return r, c


def _load_pipeline(name: str, overrides: Sequence[str]) -> Pipeline:
    """The recipe with its overrides; a bad one is one ``error:`` line and exit code 2."""
    try:
        return Pipeline.named(name).with_overrides(overrides)
    except RecipeError as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(2) from None


@main.command(context_settings=_CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@_out_option
@_recipe_options
@click.option(
    "--geometry",
    type=click.Choice(["cylinder", "perspective", "naive"]),
    help="Output grid: spin cylinder, virtual camera on the target, or naive stacking "
    "(default: the recipe's, cylinder).",
)
@click.option(
    "--fov",
    type=click.FloatRange(min=0.1, max=169.0),
    metavar="DEG",
    help="Perspective field of view (default: fit the target).",
)
@click.option(
    "--size", type=click.IntRange(min=16, max=20000), metavar="PX", help="Perspective size."
)
@click.option(
    "--center",
    callback=_parse_center,
    metavar="ROW,COL",
    help="Spin-cylinder pixel the perspective camera looks at (default: the target).",
)
@click.option("--fast", is_flag=True, help="Half-resolution preview (quick look).")
@_calibration_option
@click.option("--save-stages", is_flag=True, help="Also write each stage's intermediate image.")
@_metadata_option
@_filters_option
@click.option(
    "--interframe-delay",
    type=click.FloatRange(min=0.0, max=60.0, min_open=True),
    metavar="SECONDS",
    help="Seconds between exposures when the metadata lacks it. Recorded as assumed.",
)
@_format_option
@click.pass_context
def process(
    ctx: click.Context,
    frames: tuple[str, ...],
    out_dir: Path,
    pipeline_name: str,
    overrides: tuple[str, ...],
    geometry: str | None,
    fov: float | None,
    size: int | None,
    center: tuple[float, float] | None,
    fast: bool,
    calibration: str | None,
    save_stages: bool,
    metadata: str | None,
    filters: tuple[Filter, ...] | None,
    interframe_delay: float | None,
    fmt: str,
) -> None:
    """Process raw frames into colour pictures with a pipeline recipe.

    Each frame is decoded, decompanded, cleaned, stitched seamlessly onto one grid
    (the spin is self-calibrated from the framelet overlaps), composed and enhanced
    as the recipe says, then written as <product_id>-<recipe>.png next to a .json
    record (recipe, fitted spin, residuals, notes, timings).

    A frame without metadata needs --filters (and --interframe-delay to stitch).

    \b
    Examples:
      junocam process JNCE_2022186_43C00078_V01-raw.png -o out/
      junocam process raw/*/*-raw.png -o out/ --pipeline vivid
      junocam process frame-raw.png -o out/ --geometry perspective --fov 40
      junocam process frame-raw.png -o out/ --pipeline raw --geometry naive
      junocam process frame-raw.png -o out/ --set stretch.high=99.0 --save-stages
      junocam process frame-raw.png -o out/ --calibration calib/ --format tiff16
      junocam process old-raw.png --filters BLUE,GREEN,RED --interframe-delay 0.37 -o out/
    """
    opts: GlobalOptions = ctx.obj
    _check_single(metadata, frames)
    pipeline = _load_pipeline(
        pipeline_name, [*geometry_overrides(geometry, fov, size, center, fast), *overrides]
    )
    popts = ProcessOptions(
        out_dir=out_dir,
        fmt=fmt,
        protect=tuple(Path(f) for f in frames),
        save_stages=save_stages,
    )
    try:
        ensure_output_dir(out_dir)
        cal = load_calibration(calibration) if calibration else None
    except JunoCamError as err:
        _report(str(calibration or out_dir), err, opts.debug)
        ctx.exit(1)

    def work(path: str) -> None:
        target = process_frame(
            path, metadata, filters, interframe_delay, opts, popts, pipeline, cal
        )
        click.echo(f"{path}: wrote {target}")

    _for_each(ctx, frames, work)


# ---------------------------------------------------------------------------
# pipelines


@main.command("pipelines", context_settings=_CONTEXT)
@click.option("-v", "--verbose", is_flag=True, help="Also list each recipe's stages.")
@click.option("--stages", "list_stages", is_flag=True, help="List every stage and parameter.")
def pipelines_cmd(verbose: bool, list_stages: bool) -> None:
    """List the built-in pipeline recipes (and, with --stages, all stages).

    \b
    Examples:
      junocam pipelines
      junocam pipelines --verbose
      junocam pipelines --stages
    """
    if list_stages:
        for spec in STAGES.values():
            click.echo(f"{spec.name} ({spec.kind}): {spec.doc}")
            for pname, prm in spec.params.items():
                rng = ""
                if prm.low is not None or prm.high is not None:
                    rng = f" [{prm.low}, {prm.high}]"
                elif prm.choices:
                    rng = f" {{{', '.join(prm.choices)}}}"
                click.echo(f"    {pname} = {prm.default!r}{rng}  {prm.doc}")
        return
    for name, path in builtin_recipes().items():
        p = Pipeline.from_toml(path)
        click.echo(f"{name:12s} {p.description}")
        if verbose:
            click.echo(f"{'':12s} stages: {' -> '.join(s.name for s in p.stages)}")


# ---------------------------------------------------------------------------
# compare


@main.command(context_settings=_CONTEXT)
@click.argument("frame", type=click.Path(path_type=str))
@_out_option
@click.option(
    "--pipelines",
    "names",
    default="raw,true-color,enhanced,vivid",
    show_default=True,
    help="Comma-separated recipes (names or .toml files).",
)
@click.option(
    "--width",
    type=click.IntRange(64, 4000),
    default=600,
    show_default=True,
    help="Width of each panel, px.",
)
@click.option("--geometry", type=click.Choice(["cylinder", "perspective", "naive"]))
@_calibration_option
@_metadata_option
@click.pass_context
def compare(
    ctx: click.Context,
    frame: str,
    out_dir: Path,
    names: str,
    width: int,
    geometry: str | None,
    calibration: str | None,
    metadata: str | None,
) -> None:
    """Run several recipes on one frame and write a labelled contact sheet.

    The spin is fitted once and shared by all recipes.

    \b
    Examples:
      junocam compare JNCE_2022229_44C00029_V01-raw.png -o out/
      junocam compare frame-raw.png -o out/ --pipelines raw,enhanced,vivid,methane
    """
    opts: GlobalOptions = ctx.obj
    extra = geometry_overrides(geometry, None, None, None, False)
    pls = [_load_pipeline(n.strip(), extra) for n in names.split(",") if n.strip()]
    if not pls:
        raise click.UsageError("--pipelines names no recipe")

    def work(path: str) -> None:
        ensure_output_dir(out_dir)
        cal = load_calibration(calibration) if calibration else None
        raw = _load(path, metadata, None, opts)
        panels = []
        fit = None
        for p in pls:
            try:
                res = p.run(raw, calibration=cal, spin_fit=fit)
            except JunoCamError as err:
                click.echo(f"note: {path}: {p.name}: {err.message}", err=True)
                continue
            fit = fit or res.fit
            panels.append((p.name, res.rgb))
        if not panels:
            raise OutputError("no recipe produced an image", path=path)
        sheet = contact_sheet(panels, width)
        target = out_dir / f"{raw.meta.product_id}-compare.png"
        write_png(target, sheet, protect=_inputs(raw, path, metadata))
        click.echo(f"{path}: wrote {target}")

    _for_each(ctx, [frame], work)


# ---------------------------------------------------------------------------
# simulate

#: Product-name filter letter of each filter set [SIS]; X for other combinations.
_PRODUCT_LETTERS = {
    frozenset({"BLUE", "GREEN", "RED", "METHANE"}): "A",
    frozenset({"BLUE"}): "B",
    frozenset({"BLUE", "GREEN", "RED"}): "C",
    frozenset({"GREEN"}): "G",
    frozenset({"METHANE"}): "M",
    frozenset({"RED"}): "R",
    frozenset({"RED", "BLUE"}): "T",
}


def simulated_product_id(filters: Sequence[Filter], seed: int) -> str:
    """PRODUCT_ID of a simulated frame: ``JNCS_2026329_00<letter><seed>_V01``.

    ``S`` (simulated) stands where real products have E, R or M; the filter letter
    follows the SIS (A all four, C RGB, M methane, ...).

    Examples
    --------
    >>> simulated_product_id((Filter.BLUE, Filter.GREEN, Filter.RED), 7)
    'JNCS_2026329_00C00007_V01'
    >>> simulated_product_id((Filter.METHANE,), 0)
    'JNCS_2026329_00M00000_V01'
    """
    letter = _PRODUCT_LETTERS.get(frozenset(f.value for f in filters), "X")
    return f"JNCS_2026329_00{letter}{seed % 100000:05d}_V01"


def load_scene_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as float32 in [0, 1]: (H, W) grey or (H, W, 3) RGB.

    Integer images are scaled by their type's maximum; an alpha channel is dropped.

    Raises
    ------
    FormatError
        If the file cannot be read or is not a grey/RGB(A) image.
    SizeLimitError
        If it has more than ``max_pixels`` pixels.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "g.png")
    >>> write_png(p, np.full((4, 6), 255, np.uint8))
    >>> img = load_scene_image(p)
    >>> img.shape, float(img.max())
    ((4, 6), 1.0)
    """
    import warnings

    import imageio.v3 as iio

    from .errors import SizeLimitError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # imageio plugin probing
            img = np.asarray(iio.imread(path))
    except Exception as err:  # noqa: BLE001 - any reader failure is a format problem
        raise FormatError(f"cannot read the scene image: {err}", path=path) from None
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., :3]
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    elif img.ndim != 2:
        raise FormatError(f"scene image of shape {img.shape} is not grey or RGB", path=path)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise SizeLimitError(
            f"scene image has {img.shape[0] * img.shape[1]} pixels (limit {max_pixels})",
            path=path,
        )
    if np.issubdtype(img.dtype, np.integer):
        out = img.astype(np.float32) / float(np.iinfo(img.dtype).max)
    else:
        out = np.nan_to_num(img.astype(np.float32))
    return np.clip(out, 0.0, 1.0)


def _scene_choice(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value.lower() in ("jupiter", "neutral"):
        return value.lower()
    if not Path(value).is_file():
        raise click.BadParameter(f"{value!r} is neither 'jupiter', 'neutral' nor an image file")
    return value


@main.command("simulate", context_settings=_CONTEXT)
@click.option(
    "-o",
    "--out-dir",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output directory (created if missing).",
)
@click.option(
    "--filters",
    "filters",
    default="BLUE,GREEN,RED",
    show_default=True,
    callback=_parse_filters,
    metavar="B,G,R",
    help="Filters in readout order, e.g. METHANE or METHANE,BLUE,GREEN,RED.",
)
@click.option(
    "--exposures",
    type=click.IntRange(1, 200),
    default=6,
    show_default=True,
    help="Number of exposures.",
)
@click.option(
    "--scene",
    default="jupiter",
    show_default=True,
    callback=_scene_choice,
    metavar="jupiter|neutral|PATH",
    help="The procedural Jupiter, a grey (neutral) Jupiter, or an image file placed "
    "on the sky (grey images are the same in every band).",
)
@click.option(
    "--image-fov",
    type=click.FloatRange(0.1, 120.0),
    default=40.0,
    show_default=True,
    metavar="DEGREES",
    help="Angular width of an image scene.",
)
@click.option(
    "--radius-deg",
    type=click.FloatRange(0.1, 60.0),
    default=8.0,
    show_default=True,
    help="Angular radius of the Jupiter disc, degrees.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the scene's storms and of the noise; also numbers the product.",
)
@click.option(
    "--interframe-delay",
    type=click.FloatRange(0.05, 5.0),
    default=0.372,
    show_default=True,
    metavar="SECONDS",
    help="INTERFRAME_DELAY written to the metadata.",
)
@click.option(
    "--turn",
    type=click.FloatRange(0.0, 0.5, min_open=True),
    default=None,
    metavar="RADIANS",
    help="True turn per exposure [default: a spin of 1.987 rpm].",
)
@click.option(
    "--oversample",
    type=click.IntRange(1, 8),
    default=2,
    show_default=True,
    help="Sub-pixel samples per axis when rendering.",
)
@click.option(
    "--noise/--no-noise",
    default=True,
    show_default=True,
    help="Shot and read noise (--no-noise: noise-free, much smaller PNGs).",
)
@click.option(
    "--hot-pixels",
    type=click.IntRange(0, 10000),
    default=20,
    show_default=True,
    help="Fixed hot pixels per band.",
)
@click.option("--product-id", help="PRODUCT_ID [default: JNCS_2026329_00<letter><seed>_V01].")
@click.pass_context
def simulate(
    ctx: click.Context,
    out_dir: Path,
    filters: tuple[Filter, ...],
    exposures: int,
    scene: str,
    image_fov: float,
    radius_deg: float,
    seed: int,
    interframe_delay: float,
    turn: float | None,
    oversample: int,
    noise: bool,
    hot_pixels: int,
    product_id: str | None,
) -> None:
    """Render a raw frame from a known scene, with website-style metadata.

    Uses the same camera and spin models as the stitcher. Writes
    <PRODUCT_ID>-raw.png (SQROOT-companded 8-bit strip) and <PRODUCT_ID>-raw.json
    (metadata as on the mission website, found automatically by the other
    commands); the true spin and noise parameters are under "SIMULATION".

    \b
    Examples:
      junocam simulate -o sim/
      junocam simulate -o sim/ --filters METHANE --exposures 8 --seed 2
      junocam simulate -o sim/ --scene neutral --turn 0.0775 --no-noise
      junocam simulate -o sim/ --scene photo.jpg --image-fov 30
    """
    import re

    from .simulate import (
        ImageScene,
        JupiterScene,
        SimulationSpec,
        metadata_json,
        simulate_frame,
    )

    opts: GlobalOptions = ctx.obj
    if len(set(filters)) != len(filters):
        raise click.BadParameter("a filter is named twice", param_hint="--filters")
    pid = product_id or simulated_product_id(filters, seed)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", pid):
        raise click.BadParameter(f"{pid!r} is not a safe file name", param_hint="--product-id")

    kind = scene if scene in ("jupiter", "neutral") else "image"

    def work(label: str) -> None:
        if kind != "image":
            sky: Any = JupiterScene(radius_deg=radius_deg, seed=seed, neutral=scene == "neutral")
        else:
            sky = ImageScene(load_scene_image(scene, opts.max_pixels), fov_deg=image_fov)
        spec = SimulationSpec(
            filters=filters,
            n_exposures=exposures,
            interframe_delay=interframe_delay,
            turn_per_exposure=turn,
            oversample=oversample,
            seed=seed,
            hot_pixels=hot_pixels,
            read_noise_dn=1.5 if noise else 0.0,
            shot_noise=noise,
            product_id=pid,
        )
        sim = simulate_frame(sky, spec)
        meta = dict(sim.metadata)
        meta["SIMULATION"] = {**meta["SIMULATION"], "scene": kind, "noise": noise}
        ensure_output_dir(out_dir)
        png = out_dir / f"{pid}-raw.png"
        js = out_dir / f"{pid}-raw.json"
        protect = [Path(scene)] if kind == "image" else []
        write_png(png, sim.strip, bits=8, protect=protect, compress_level=9)
        text = metadata_json(meta).encode("utf-8")
        atomic_write(js, lambda fh: fh.write(text), protect)
        click.echo(
            f"wrote {png} and {js.name}: {exposures} exposures x "
            f"{','.join(f.value for f in filters)}, true turn "
            f"{sim.spin.turn_per_exposure:.6f} rad/exposure"
        )

    _for_each(ctx, [scene], work)


# ---------------------------------------------------------------------------
# batch and gallery


@main.command("batch", context_settings=_CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=str)
@_out_option
@_recipe_options
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Parallel workers (default: every core; with --address, the cluster's threads).",
)
@click.option("--force", is_flag=True, help="Redo frames that are already done.")
@click.option(
    "--scheduler",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="A local process pool, or dask.distributed (pip install 'junocam[dask]').",
)
@click.option(
    "--address",
    metavar="tcp://HOST:PORT",
    help="Dask scheduler to use with --scheduler dask (default: start a local cluster).",
)
@click.option("--gallery", "make_gallery", is_flag=True, help="Also write OUT/index.html.")
@_format_option
@_calibration_option
@click.pass_context
def batch_cmd(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: Path,
    pipeline_name: str,
    overrides: tuple[str, ...],
    jobs: int | None,
    force: bool,
    scheduler: str,
    address: str | None,
    make_gallery: bool,
    fmt: str,
    calibration: str | None,
) -> None:
    """Process many frames in parallel, resumably, with a manifest.

    INPUTS are raw images, folders (searched recursively for *.png, *.LBL, *.IMG)
    or quoted glob patterns. Each image is paired with its metadata and processed
    exactly as `junocam process` would, one frame per worker at a time. Every
    result (input hashes, recipe digest, status, error, fitted spin, timings,
    outputs) is appended to OUT/manifest.jsonl.

    Re-running the same command skips frames that are done with the same inputs
    and recipe; --force redoes them. A failing frame, or one whose worker dies,
    is recorded as failed and the others go on; the exit code is then 1.

    \b
    Examples:
      junocam batch raw/ -o out/ --pipeline enhanced
      junocam batch 'raw/**/*-raw.png' -o out/ --jobs 4 --gallery
      junocam batch raw/ -o out/ --scheduler dask --address tcp://10.0.0.5:8786
    """
    from . import batch

    opts: GlobalOptions = ctx.obj
    if address and scheduler != "dask":
        raise click.UsageError("--address needs --scheduler dask")
    _load_pipeline(pipeline_name, overrides)  # usage error (exit 2) on a bad recipe
    config = batch.BatchConfig(
        out_dir=str(out_dir),
        recipe=pipeline_name,
        overrides=tuple(overrides),
        fmt=fmt,
        calibration=calibration,
        max_pixels=opts.max_pixels,
    )
    frames = batch.discover(inputs, exclude=out_dir)
    if not frames:
        _report(" ".join(inputs), OutputError("no raw images found"), opts.debug)
        ctx.exit(1)
    try:
        summary = batch.run_batch(
            frames,
            config,
            jobs=jobs,
            force=force,
            scheduler=scheduler,
            address=address,
            progress=batch.make_progress,
        )
        if make_gallery:
            from .gallery import write_gallery

            click.echo(f"gallery: {write_gallery(out_dir)}")
    except JunoCamError as err:
        _report(str(out_dir), err, opts.debug)
        ctx.exit(1)
    click.echo("\n".join(batch.summary_lines(summary)))
    if summary.interrupted:
        click.echo("interrupted: re-run the same command to finish the batch", err=True)
        ctx.exit(130)
    if summary.failed:
        ctx.exit(1)


@main.command("gallery", context_settings=_CONTEXT)
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--title", help="Page title (default: the folder name).")
@click.option(
    "--thumb-size",
    type=click.IntRange(32, 2000),
    default=320,
    show_default=True,
    help="Thumbnail size, px (largest side).",
)
@click.pass_context
def gallery_cmd(ctx: click.Context, out_dir: Path, title: str | None, thumb_size: int) -> None:
    """Write OUT_DIR/index.html: thumbnails, metadata and links for a batch's images.

    The page uses relative links only, so it opens from the file system.

    \b
    Examples:
      junocam gallery out/
      junocam gallery out/ --title "Perijove 43" --thumb-size 480
    """
    from .gallery import write_gallery

    opts: GlobalOptions = ctx.obj
    try:
        page = write_gallery(out_dir, title=title, size=thumb_size)
    except JunoCamError as err:
        _report(str(out_dir), err, opts.debug)
        ctx.exit(1)
    click.echo(f"wrote {page}")


# The planet-geometry commands live in their own module and attach themselves to
# ``main`` on import; importing it last lets it use the helpers above.
from . import cli_geo as _cli_geo  # noqa: E402, F401
