"""The project's exception hierarchy.

Every error that the project raises on purpose derives from :class:`JunoCamError`,
so callers (the CLI, the batch runner, a notebook) can catch one type and print one
clear message. Each error names the file it concerns when there is one.

Examples
--------
>>> from junocam.errors import FormatError, JunoCamError
>>> try:
...     raise FormatError("width is 1000 samples, expected 1648", path="x.png")
... except JunoCamError as err:
...     print(err)
x.png: width is 1000 samples, expected 1648
"""

from __future__ import annotations

import os

__all__ = [
    "JunoCamError",
    "FormatError",
    "SizeLimitError",
    "MetadataError",
    "MissingMetadataError",
    "RecipeError",
    "GeometryError",
    "KernelError",
    "OutputError",
    "BatchError",
    "FetchError",
]


class JunoCamError(Exception):
    """Base class of every error the project raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong, in words a user understands.
    path : str or os.PathLike, optional
        The file the problem concerns; it is put in front of the message.

    Examples
    --------
    >>> str(JunoCamError("bad thing", path="a.png"))
    'a.png: bad thing'
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        super().__init__(message)

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class FormatError(JunoCamError):
    """The image file is not a JunoCam raw product we can read (bad bytes, shape, depth)."""


class SizeLimitError(FormatError):
    """The image declares more pixels than the configured limit; refused before decoding."""


class MetadataError(JunoCamError):
    """Metadata is malformed, inconsistent with the pixels, or lacks a needed field."""


class MissingMetadataError(MetadataError):
    """No metadata file was found or given for an image that needs one."""


class RecipeError(JunoCamError):
    """A pipeline recipe is invalid (unknown stage, bad parameter, bad TOML)."""


class GeometryError(JunoCamError):
    """The camera or spin geometry cannot be computed for this frame."""


class KernelError(JunoCamError):
    """A SPICE kernel is missing, unreadable or does not cover the request."""


class MissingEphemerisError(KernelError):
    """The loaded kernels lack a body's position (e.g. a moon without a satellite SPK)."""


class OutputError(JunoCamError):
    """An output cannot be written (directory not writable, would overwrite an input)."""


class BatchError(JunoCamError):
    """The batch as a whole cannot run (output folder locked, scheduler unavailable)."""


class FetchError(JunoCamError):
    """A download or a server's answer failed (HTTP error, wrong size or checksum, bad
    archive, not in the cache with ``--offline``); names the URL or file.

    ``status`` is the HTTP status code when the server answered with an error."""

    status: int | None = None
