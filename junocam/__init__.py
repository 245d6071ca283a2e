"""junocam: seamless, registered, enhanced colour pictures from JunoCam raw frames.

The stage functions are importable from the package itself; the ``junocam``
command line is a thin layer over them.
"""

from __future__ import annotations

from .companding import compand, decompand
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
from .metadata import Companding, Filter, FrameMeta

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Companding",
    "Filter",
    "FrameMeta",
    "Framelets",
    "split",
    "compand",
    "decompand",
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
