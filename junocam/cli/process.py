"""``junocam process`` and ``junocam compare``: run a recipe on frames, or set naive
and stitched output side by side.

Examples
--------
>>> from click.testing import CliRunner
>>> "--pipeline" in CliRunner().invoke(process, ["--help"]).output
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..calibrate import Calibration, load_calibration
from ..compose import contact_sheet
from ..errors import JunoCamError, OutputError
from ..metadata import Filter
from ..output import ensure_output_dir, write_png
from ..pipeline.engine import DefaultPipeline, Pipeline
from ..process import ProcessedFrame, ProcessOptions, process_file
from .maps import _geometry_cache, no_cache_option
from .options import (
    CONTEXT,
    GlobalOptions,
    alpha_option,
    calibration_option,
    check_single,
    field_text,
    filters_option,
    for_each,
    format_option,
    frame_inputs,
    kernels_option,
    load_default_or_named,
    load_frame,
    load_pipeline,
    metadata_option,
    navigate_option,
    out_option,
    recipe_options,
    report,
    target_option,
)


@dataclass
class SpiceInputs:
    """``process --kernels``: the kernels (loaded on first use), navigation mode,
    target and geometry cache."""

    paths: tuple[str, ...]
    mode: str = "auto"
    target: str | None = None
    cache: Any = None
    _kernels: Any = None

    @property
    def kernels(self) -> Any:
        """The :class:`junocam.planet.spice.KernelSet` (read once)."""
        if self._kernels is None:
            from ..planet.spice import KernelSet

            self._kernels = KernelSet.from_path(list(self.paths))
        return self._kernels


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
    pipeline: Pipeline | DefaultPipeline | None = None,
    calibration: Calibration | None = None,
    spice: SpiceInputs | None = None,
) -> Path:
    """``junocam process`` for one frame: :func:`junocam.process.process_file` (with
    ``spice``, :func:`junocam.maps.spiceview.process_with_kernels`), then tell the user
    what was assumed, skipped and fitted."""
    pipeline = pipeline or Pipeline.named("raw").with_overrides(['stitch.geometry="naive"'])
    if spice is not None:
        from ..maps.spiceview import process_with_kernels

        done = process_with_kernels(
            path,
            spice.kernels,
            pipeline,
            popts,
            mode=spice.mode,
            target=spice.target,
            cache=spice.cache,
            metadata=metadata,
            filters=filters,
            interframe_delay=delay,
            max_pixels=opts.max_pixels,
            calibration=calibration,
        )
    else:
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
    tell(path, done)
    return done.image


def tell(path: str, done: ProcessedFrame) -> None:
    """Print what was assumed, noted and fitted for one processed frame (stderr)."""
    if done.meta.assumed:
        values = ", ".join(f"{n}={field_text(done.meta, n)}" for n in done.meta.assumed)
        click.echo(f"note: {path}: assumed {values}", err=True)
    for note in done.notes:
        click.echo(f"note: {path}: {note}", err=True)
    if done.fit is not None:
        click.echo(f"{path}: spin: {done.fit.message}", err=True)
    geo = done.record.get("geometry")
    if geo:
        nav = geo.get("navigation")
        how = "the CK" if geo["attitude"] == "ck" else "navigation (limb)"
        text = f"{path}: geometry from {how} and the SPK positions"
        if nav:
            text += (
                f": limb RMS {nav['limb_rms_px']:.2f} px ({nav['n_limb']} points), "
                f"time offset {nav['time_offset_s'] * 1000:+.1f} ms"
            )
        fraction = geo.get("on_body_fraction")
        if fraction is not None:
            text += f"; {fraction:.0%} of the picture on {geo['target']['name'].title()}"
        click.echo(text, err=True)


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


@click.command(context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@out_option
@recipe_options
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
@calibration_option
@click.option("--save-stages", is_flag=True, help="Also write each stage's intermediate image.")
@metadata_option
@filters_option
@click.option(
    "--interframe-delay",
    type=click.FloatRange(min=0.0, max=60.0, min_open=True),
    metavar="SECONDS",
    help="Seconds between exposures when the metadata lacks it. Recorded as assumed.",
)
@format_option
@alpha_option
@kernels_option(required=False)
@target_option
@navigate_option
@no_cache_option
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
    alpha: bool,
    kernel_paths: tuple[str, ...],
    target: str | None,
    mode: str,
    no_cache: bool,
) -> None:
    """Process raw frames into colour pictures with a pipeline recipe.

    Each frame is decoded, decompanded, cleaned, stitched seamlessly onto one grid
    (the spin is self-calibrated from the framelet overlaps), composed and enhanced
    as the recipe says, then written as <product_id>-<recipe>.png next to a .json
    record (recipe, fitted spin, residuals, notes, timings).

    A frame without metadata needs --filters; its interframe delay is assumed
    (0.372 s; the spin fit measures the turn per exposure) unless given.

    With --kernels (SPICE: an LSK, a PCK and an SPK covering the frame; a CK adds the
    attitude, else it is navigated from the limb as `map` does) the same picture is
    rendered as seen from the spacecraft at the frame's middle exposure, every
    exposure sampled from its own position: a moon on a close flyby keeps its shape
    (the spin alone reads the parallax as turn and stretches it). Needs spiceypy.

    \b
    Examples:
      junocam process JNCE_2022186_43C00078_V01-raw.png -o out/
      junocam process raw/*/*-raw.png -o out/ --pipeline vivid
      junocam process frame-raw.png -o out/ --geometry perspective --fov 40
      junocam process frame-raw.png -o out/ --pipeline raw --geometry naive
      junocam process frame-raw.png -o out/ --set stretch.high=99.0 --save-stages
      junocam process frame-raw.png -o out/ --calibration calib/ --format tiff16
      junocam process old-raw.png --filters BLUE,GREEN,RED -o out/
      junocam process io-flyby-raw.png --kernels kernels/ -o out/
      junocam process frame-raw.png --kernels juno.tm --target IO --navigate limb -o out/
    """
    opts: GlobalOptions = ctx.obj
    check_single(metadata, frames)
    spice = None
    if kernel_paths:
        from ..planet.spice import require_spiceypy

        try:
            require_spiceypy()
        except JunoCamError as err:
            report("--kernels", err, opts.debug)
            ctx.exit(1)
        spice = SpiceInputs(kernel_paths, mode, target, _geometry_cache(no_cache))
    else:
        for name in ("target", "mode", "no_cache"):
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                flag = {"mode": "--navigate", "no_cache": "--no-cache"}.get(name, "--target")
                raise click.UsageError(f"{flag} needs --kernels")
    pipeline = load_default_or_named(
        pipeline_name, [*geometry_overrides(geometry, fov, size, center, fast), *overrides]
    )
    popts = ProcessOptions(
        out_dir=out_dir,
        fmt=fmt,
        alpha=alpha,
        protect=tuple(Path(f) for f in frames),
        save_stages=save_stages,
    )
    try:
        ensure_output_dir(out_dir)
        cal = load_calibration(calibration) if calibration else None
    except JunoCamError as err:
        report(str(calibration or out_dir), err, opts.debug)
        ctx.exit(1)

    def work(path: str) -> None:
        target = process_frame(
            path, metadata, filters, interframe_delay, opts, popts, pipeline, cal, spice
        )
        click.echo(f"{path}: wrote {target}")

    for_each(ctx, frames, work)


@click.command(context_settings=CONTEXT)
@click.argument("frame", type=click.Path(path_type=str))
@out_option
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
@calibration_option
@metadata_option
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
    pls = [load_pipeline(n.strip(), extra) for n in names.split(",") if n.strip()]
    if not pls:
        raise click.UsageError("--pipelines names no recipe")

    def work(path: str) -> None:
        ensure_output_dir(out_dir)
        cal = load_calibration(calibration) if calibration else None
        raw = load_frame(path, metadata, None, opts)
        panels = []
        fit = None
        for p in pls:
            try:
                res = p.run(raw, calibration=cal, spin_fit=fit, keep_bands=False)
            except JunoCamError as err:
                click.echo(f"note: {path}: {p.name}: {err.message}", err=True)
                continue
            fit = fit or res.fit
            panels.append((p.name, res.rgb))
        if not panels:
            raise OutputError("no recipe produced an image", path=path)
        sheet = contact_sheet(panels, width)
        target = out_dir / f"{raw.meta.product_id}-compare.png"
        write_png(target, sheet, protect=frame_inputs(raw, path, metadata))
        click.echo(f"{path}: wrote {target}")

    for_each(ctx, [frame], work)
