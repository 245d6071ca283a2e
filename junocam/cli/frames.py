"""``junocam info`` and ``junocam split``: describe a frame, write its bands or framelets.

Examples
--------
>>> from junocam.metadata import assumed_meta
>>> describe(None, assumed_meta(384))["filters"]
['BLUE', 'GREEN', 'RED']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..decode import RawFrame, load_metadata, read_frame
from ..errors import FormatError
from ..framelets import Framelets, split
from ..geometry import fit_frame_spin
from ..metadata import Filter, FrameMeta, exposure_start_time
from ..output import ensure_output_dir, write_png
from .options import (
    CONTEXT,
    GlobalOptions,
    check_single,
    filters_option,
    for_each,
    frame_inputs,
    load_frame,
    metadata_option,
    out_option,
)


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


@click.command(context_settings=CONTEXT)
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

    for_each(ctx, [frame], work)


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


@click.command("split", context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@out_option
@click.option("--per-framelet", is_flag=True, help="Write every framelet as its own image.")
@metadata_option
@filters_option
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
    check_single(metadata, frames)

    def work(path: str) -> None:
        frame = load_frame(path, metadata, filters, opts)
        ensure_output_dir(out_dir)
        bits = 16 if frame.pixels.dtype == np.uint16 else 8
        for target, img in split_outputs(frame, out_dir, per_framelet):
            write_png(target, img, bits=bits, protect=frame_inputs(frame, path))
        click.echo(f"{frame.path}: wrote {frame.meta.n_filters} band(s) to {out_dir}")

    for_each(ctx, frames, work)
