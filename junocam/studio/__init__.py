"""The studio: tune a look in the browser with a live preview (``junocam studio``).

Modules
-------
security
    Frames by opaque id, output names checked to stay inside the output folder.
session
    The served frames, recipes as the page edits them, and the preview engine that
    caches the state after every stage so a change re-runs only what follows it.
jobs
    Full-resolution processing and batches in the background, with progress.
app
    The Starlette application (routes and static page) and :func:`serve`.

Only :mod:`junocam.studio.app` needs the optional ``junocam[studio]`` extra
(Starlette and uvicorn); it is imported when the app is made.

Examples
--------
>>> from junocam.studio import recipe_toml
>>> from junocam.pipeline import Pipeline
>>> recipe_toml(Pipeline.named("raw")).splitlines()[0]
'name = "raw"'
"""

from __future__ import annotations

from .jobs import Job, JobBoard
from .security import PathRefused, frame_id, resolve_inside, safe_file_name
from .session import (
    PREVIEW_SCALE,
    FrameCatalog,
    PreviewEngine,
    PreviewResult,
    ServedFrame,
    encode_jpeg,
    pipeline_from_page,
    recipe_choices,
    recipe_to_page,
    recipe_toml,
    registry_json,
)

__all__ = [
    "PREVIEW_SCALE",
    "FrameCatalog",
    "Job",
    "JobBoard",
    "PathRefused",
    "PreviewEngine",
    "PreviewResult",
    "ServedFrame",
    "encode_jpeg",
    "frame_id",
    "pipeline_from_page",
    "recipe_choices",
    "recipe_to_page",
    "recipe_toml",
    "registry_json",
    "resolve_inside",
    "safe_file_name",
]
