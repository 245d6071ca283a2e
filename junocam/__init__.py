"""junocam: seamless, registered, enhanced colour pictures from JunoCam raw frames.

The stage functions are importable from the package itself; the ``junocam``
command line is a thin layer over them.
"""

from __future__ import annotations

from ._version import __version__
from .calibrate import Calibration, load_calibration
from .camera import CameraModel
from .companding import compand, decompand
from .compose import (
    compose_rgb,
    naive_band_images,
    naive_band_offsets,
    naive_composite,
    nominal_band_offsets,
    shift_bands,
)
from .decode import DEFAULT_MAX_PIXELS, RawFrame, find_metadata, load_metadata, read_frame
from .errors import (
    FormatError,
    GeometryError,
    JunoCamError,
    KernelError,
    MetadataError,
    MissingMetadataError,
    OutputError,
    RecipeError,
    SizeLimitError,
)
from .framelets import Framelets, split
from .geometry import GeometryOptions, StitchedFrame, fit_frame_spin, stitch_frame
from .metadata import (
    Companding,
    Filter,
    FrameMeta,
    assumed_meta,
    exposure_start_time,
    from_pds3_label,
    from_website_json,
    parse_duration,
    parse_quantity,
)
from .output import write_png, write_tiff16
from .pipeline import Pipeline, PipelineResult, builtin_recipes
from .process import ProcessOptions, process_file
from .simulate import ImageScene, JupiterScene, SimulationSpec, simulate_frame
from .spin import SpinModel
from .spinfit import JunoCamWarning, SpinFit, fit_spin
from .stitch import CylinderGrid, PerspectiveGrid, StitchResult, stitch

__all__ = [
    "CameraModel",
    "SpinModel",
    "CylinderGrid",
    "PerspectiveGrid",
    "StitchResult",
    "stitch",
    "JunoCamWarning",
    "SpinFit",
    "fit_spin",
    "GeometryOptions",
    "StitchedFrame",
    "fit_frame_spin",
    "stitch_frame",
    "ImageScene",
    "JupiterScene",
    "SimulationSpec",
    "simulate_frame",
    "Calibration",
    "load_calibration",
    "Pipeline",
    "PipelineResult",
    "builtin_recipes",
    "ProcessOptions",
    "process_file",
    "__version__",
    "Companding",
    "Filter",
    "FrameMeta",
    "Framelets",
    "split",
    "compand",
    "decompand",
    "RawFrame",
    "read_frame",
    "find_metadata",
    "load_metadata",
    "DEFAULT_MAX_PIXELS",
    "from_website_json",
    "from_pds3_label",
    "assumed_meta",
    "exposure_start_time",
    "parse_quantity",
    "parse_duration",
    "naive_band_images",
    "naive_band_offsets",
    "nominal_band_offsets",
    "shift_bands",
    "compose_rgb",
    "naive_composite",
    "write_png",
    "write_tiff16",
    "JunoCamError",
    "FormatError",
    "SizeLimitError",
    "MetadataError",
    "MissingMetadataError",
    "RecipeError",
    "GeometryError",
    "KernelError",
    "OutputError",
]
