"""One frame from files to files: read, run a pipeline, write the image and its record.

This is what ``junocam process`` and each task of ``junocam batch`` do for a frame.
It prints nothing: notes, the spin fit and timings come back in a
:class:`ProcessedFrame` (and in the JSON record written beside the image), so the
command line, the batch runner and notebooks present them as they like.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from junocam.pipeline import Pipeline
>>> out = Path(tempfile.mkdtemp())
>>> raw = Pipeline.named("raw").with_overrides(['stitch.geometry="naive"'])
>>> output_label(raw)
'naive'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .calibrate import Calibration
from .decode import DEFAULT_MAX_PIXELS, RawFrame, read_frame
from .geometry import Resampler
from .metadata import Filter, FrameMeta
from .output import atomic_write, write_png, write_tiff16
from .pipeline.engine import DefaultPipeline, Pipeline, PipelineResult
from .spinfit import SpinFit

__all__ = [
    "FORMATS",
    "ProcessOptions",
    "ProcessedFrame",
    "output_label",
    "output_path",
    "write_image",
    "frame_record",
    "process_file",
    "process_frame",
]

#: Output formats and their file suffixes.
FORMATS = {"png8": ".png", "png16": ".png", "tiff16": ".tif"}


@dataclass(frozen=True)
class ProcessOptions:
    """Where and how a processed frame is written.

    Parameters
    ----------
    out_dir : Path
        Output directory (must exist).
    fmt : {"png8", "png16", "tiff16"}
    protect : tuple of Path
        Files that must never be overwritten (the run's inputs).
    alpha : bool
        Write RGBA: the coverage of every band as the alpha channel (see
        :meth:`junocam.pipeline.PipelineResult.rgba`).
    save_stages : bool
        Also write a preview after every stage into ``<id>-<label>-stages/``.
    """

    out_dir: Path
    fmt: str = "png8"
    protect: tuple[Path, ...] = ()
    save_stages: bool = False
    alpha: bool = False


@dataclass(frozen=True, eq=False)
class ProcessedFrame:
    """What :func:`process_file` wrote and learnt.

    Attributes
    ----------
    meta : FrameMeta
        The frame's metadata (``meta.assumed`` lists assumed values).
    image : Path
        The written image.
    record_path : Path
        The JSON record beside it.
    record : dict
        Its content.
    notes : list of str
        What stages skipped or assumed.
    fit : SpinFit or None
        The spin self-calibration.
    stage_images : list of Path
        Previews written with ``save_stages``.
    """

    meta: FrameMeta
    image: Path
    record_path: Path
    record: dict[str, Any]
    notes: list[str]
    fit: SpinFit | None
    stage_images: list[Path] = field(default_factory=list)


def output_label(pipeline: Pipeline) -> str:
    """File label of a pipeline's output: its name, ``naive`` for the naive raw look.

    Examples
    --------
    >>> output_label(Pipeline.named("vivid"))
    'vivid'
    """
    stitch = next(s for s in pipeline.stages if s.name == "stitch")
    if stitch.params["geometry"] == "naive":
        return "naive" if pipeline.name == "raw" else f"{pipeline.name}-naive"
    return pipeline.name


def output_path(meta: FrameMeta, popts: ProcessOptions, label: str = "naive") -> Path:
    """``<out_dir>/<product_id>-<label>.png`` (``.tif`` for tiff16).

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> meta = assumed_meta(384, source="JNCE_X-raw.png")
    >>> output_path(meta, ProcessOptions(out_dir=Path("out"), fmt="tiff16")).as_posix()
    'out/JNCE_X-naive.tif'
    """
    return popts.out_dir / f"{meta.product_id}-{label}{FORMATS[popts.fmt]}"


def write_image(
    rgb: np.ndarray, target: Path, popts: ProcessOptions, protect: Iterable[Path] = ()
) -> None:
    """Write an RGB or RGBA float image in [0, 1] atomically in the chosen format."""
    protect = (*popts.protect, *protect)
    if popts.fmt == "tiff16":
        write_tiff16(target, rgb, protect=protect)
    else:
        write_png(target, rgb, bits=16 if popts.fmt == "png16" else 8, protect=protect)


def _assumed_value(meta: FrameMeta, name: str) -> Any:
    """JSON-ready value of an assumed metadata field."""
    value = getattr(meta, name, None)
    if name == "filters":
        return [f.value for f in meta.filters]
    return value.value if value is not None and hasattr(value, "value") else value


def frame_record(frame: RawFrame, pipeline: Pipeline, result: PipelineResult) -> dict[str, Any]:
    """JSON-ready record of how a frame was processed (sidecar of the output image).

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> import numpy as np
    >>> fr = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384, interframe_delay=0.37))
    >>> p = Pipeline([("stitch", {"geometry": "naive"}), "compose"])
    >>> frame_record(fr, p, p.run(fr))["pipeline"]
    'custom'
    """
    d: dict[str, Any] = {
        "product_id": frame.meta.product_id,
        "input": frame.path,
        "pipeline": pipeline.name,
        "pipeline_digest": pipeline.digest(),
        "stages": [
            {
                "name": s.name,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in s.params.items()},
            }
            for s in pipeline.stages
        ],
        "junocam_version": __version__,
        "notes": result.notes,
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "assumed": list(frame.meta.assumed),
        "assumed_values": {name: _assumed_value(frame.meta, name) for name in frame.meta.assumed},
    }
    if result.fit is not None:
        d["spin_fit"] = result.fit.as_dict(frame.meta.interframe_delay)
    return d


def _inputs(frame: RawFrame, *extra: str | Path | None) -> tuple[Path, ...]:
    paths = [frame.path, frame.meta.source, *extra]
    return tuple(Path(p) for p in paths if p is not None)


def process_file(
    path: str | Path,
    pipeline: Pipeline | DefaultPipeline,
    popts: ProcessOptions,
    *,
    metadata: str | Path | None = None,
    filters: Sequence[Filter] | None = None,
    interframe_delay: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    calibration: Calibration | None = None,
    spin_fit: SpinFit | None = None,
) -> ProcessedFrame:
    """Read a raw frame, run ``pipeline`` on it, write the image and its JSON record.

    Parameters
    ----------
    path : str or Path
        Raw product (website PNG or PDS3 label/image).
    pipeline : Pipeline or DefaultPipeline
        A :class:`DefaultPipeline` picks the recipe from the frame's bands.
    popts : ProcessOptions
    metadata : path, optional
        Metadata file when it is not found beside the image.
    filters, interframe_delay : optional
        Values supplied for a frame without metadata (recorded as assumed); a frame
        without metadata and without ``filters`` is an error.
    max_pixels : int
        Refuse larger images before decoding them.
    calibration : Calibration, optional
    spin_fit : SpinFit, optional
        A full-resolution spin fit made earlier for this frame (reused, not redone).

    Returns
    -------
    ProcessedFrame

    Raises
    ------
    JunoCamError
        Unreadable input, bad metadata, geometry or output problems, each naming
        the file.
    """
    frame = read_frame(
        path,
        metadata,
        filters=filters,
        interframe_delay=interframe_delay,
        max_pixels=max_pixels,
        allow_assumed=False,
    )
    return process_frame(
        frame,
        pipeline,
        popts,
        inputs=(path, metadata),
        calibration=calibration,
        spin_fit=spin_fit,
    )


def process_frame(
    frame: RawFrame,
    pipeline: Pipeline | DefaultPipeline,
    popts: ProcessOptions,
    *,
    inputs: Sequence[str | Path | None] = (),
    calibration: Calibration | None = None,
    spin_fit: SpinFit | None = None,
    resampler: Resampler | None = None,
    record_extra: Callable[[PipelineResult], dict[str, Any]] | None = None,
) -> ProcessedFrame:
    """Run ``pipeline`` on a decoded frame and write the image and its JSON record.

    The second half of :func:`process_file`, for callers that read the frame
    themselves (``junocam process --kernels`` needs its metadata for the geometry
    first).

    Parameters
    ----------
    frame : RawFrame
    pipeline, popts, calibration, spin_fit
        As for :func:`process_file`.
    inputs : sequence of path
        More files never to overwrite (the frame's own path and metadata always are).
    resampler : Resampler, optional
        Renders the stitch stage's grid in place of the spin-only stitch (see
        :meth:`junocam.pipeline.Pipeline.run`).
    record_extra : callable, optional
        ``record_extra(result)`` gives entries added to the JSON record after the run
        (e.g. the geometry used).

    Returns
    -------
    ProcessedFrame

    Examples
    --------
    >>> import tempfile
    >>> from junocam.metadata import assumed_meta
    >>> fr = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384, source="JNCE_X-raw.png"))
    >>> naive = Pipeline([("stitch", {"geometry": "naive"}), "compose"])
    >>> done = process_frame(fr, naive, ProcessOptions(Path(tempfile.mkdtemp())),
    ...                      record_extra=lambda result: {"a": 1})
    >>> done.image.name, done.record["a"]
    ('JNCE_X-custom-naive.png', 1)
    """
    if isinstance(pipeline, DefaultPipeline):
        pipeline = pipeline.for_meta(frame.meta)
    # only the picture is written: the band images are freed after the compose stage
    result = pipeline.run(
        frame,
        calibration=calibration,
        keep_stages=popts.save_stages,
        spin_fit=spin_fit,
        resampler=resampler,
        keep_bands=False,
    )
    label = output_label(pipeline)
    target = output_path(frame.meta, popts, label)
    protect = (*popts.protect, *_inputs(frame, *inputs))
    write_image(result.rgba() if popts.alpha else result.rgb, target, popts, protect)
    record = frame_record(frame, pipeline, result)
    if record_extra is not None:
        record |= record_extra(result)
    text = json.dumps(record, indent=2, default=str) + "\n"
    record_path = target.with_suffix(".json")
    atomic_write(record_path, lambda fh: fh.write(text.encode("utf-8")), protect=protect)
    stage_files: list[Path] = []
    if popts.save_stages:
        stage_dir = popts.out_dir / f"{frame.meta.product_id}-{label}-stages"
        stage_dir.mkdir(exist_ok=True)
        for name, img in result.stage_images:
            f = stage_dir / f"{name}.png"
            write_png(f, img, bits=8, protect=protect)
            stage_files.append(f)
    return ProcessedFrame(
        meta=frame.meta,
        image=target,
        record_path=record_path,
        record=record,
        notes=list(result.notes),
        fit=result.fit,
        stage_images=stage_files,
    )
