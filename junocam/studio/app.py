"""The studio's web application: Starlette routes over the session model, and serving it.

The page (``static/index.html``, ``studio.js``, ``studio.css``: plain files, no build
step) talks to a small JSON API:

=========================  =====================================================
``GET  /api/config``       frames, recipes, the stage registry, output folder
``GET  /api/frames/ID/thumb``  a JPEG quick look of a served frame
``GET  /api/recipes/ID``   a recipe (built-in, user folder, or a served folder)
``POST /api/recipes/parse``  a TOML recipe the user opened, validated
``POST /api/preview``      the live preview (JPEG) of a frame with a recipe
``POST /api/snapshots``    a small picture after every stage
``POST /api/export``       the recipe as validated TOML (optionally saved)
``POST /api/process``      the frame at full resolution into the output folder
``POST /api/batch``        every served frame through the batch engine
``GET  /api/jobs/ID``      progress of a process or batch job
``GET  /api/outputs[/NAME]``  the output folder's files
=========================  =====================================================

Frames are named by opaque ids and only plain names inside the output folder are
accepted (:mod:`junocam.studio.security`). Requests must name this server as
``Host`` (no DNS rebinding) and POST bodies must be JSON (a cross-site form cannot
send them without the browser asking first).

Examples
--------
>>> import tempfile
>>> from starlette.testclient import TestClient
>>> out = Path(tempfile.mkdtemp())
>>> client = TestClient(create_app(StudioConfig(inputs=(), out_dir=out)))
>>> client.get("/api/config").json()["frames"]
[]
>>> client.get("/api/outputs/..%2F..%2Fetc%2Fpasswd").status_code
403
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..decode import DEFAULT_MAX_PIXELS
from ..errors import JunoCamError, RecipeError
from ..output import ensure_output_dir
from ..pipeline.engine import Pipeline
from ..process import FORMATS
from ..spinfit import SpinFit
from .jobs import JobBoard, batch_job, process_frame_job, save_recipe
from .security import PathRefused, resolve_inside
from .session import (
    PREVIEW_SCALE,
    FrameCatalog,
    PreviewEngine,
    encode_jpeg,
    pipeline_from_page,
    recipe_choices,
    recipe_to_page,
    recipe_toml,
    registry_json,
)

__all__ = ["StudioConfig", "create_app", "static_dir", "serve", "start_in_thread"]


@dataclass(frozen=True)
class StudioConfig:
    """What ``junocam studio`` serves and where it writes.

    Parameters
    ----------
    inputs : tuple of path
        Frames and folders of frames (searched recursively).
    out_dir : Path
        The only folder the studio writes into.
    host, port : str, int
        Where to listen (127.0.0.1 by default; port 0 picks a free one).
    preview_scale : float
        Default preview scale (the page can change it).
    max_pixels : int
        Refuse larger input images.
    jobs : int or None
        Worker processes of a batch (default: every core).
    """

    inputs: tuple[str | Path, ...]
    out_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    preview_scale: float = PREVIEW_SCALE
    max_pixels: int = DEFAULT_MAX_PIXELS
    jobs: int | None = None
    allowed_hosts: tuple[str, ...] = field(default=())


def static_dir() -> Path:
    """The folder of the page's files inside the installed package.

    Examples
    --------
    >>> sorted(p.name for p in static_dir().iterdir())
    ['index.html', 'studio.css', 'studio.js']
    """
    return Path(str(resources.files("junocam.studio") / "static"))


class _Studio:
    """The application's state: catalog, previews, jobs, recipe sources."""

    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.out_dir = Path(os.path.abspath(config.out_dir))
        ensure_output_dir(self.out_dir)
        self.catalog = FrameCatalog(config.inputs, max_pixels=config.max_pixels)
        self.engine = PreviewEngine(self.catalog)
        self.jobs = JobBoard()
        self.full_fits: dict[str, SpinFit] = {}
        folders = [Path(p).resolve() for p in config.inputs if Path(p).is_dir()]
        self.recipe_folders = [*folders, self.out_dir]

    def recipes(self) -> list[dict[str, Any]]:
        return recipe_choices(self.recipe_folders)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


Handler = Callable[[Request], Awaitable[Response]]


def _guard(handler: Handler) -> Handler:
    """JSON errors: a JunoCamError is 400 (403 for a refused path), an unknown id 404."""

    async def wrapped(request: Request) -> Response:
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            if ctype != "application/json":
                return _error(415, "POST bodies must be application/json")
        try:
            return await handler(request)
        except PathRefused as err:
            return _error(403, err.message)
        except KeyError as err:
            return _error(404, f"unknown id {err.args[0]!r}" if err.args else "not found")
        except JunoCamError as err:
            return _error(400, str(err))
        except ValueError as err:  # a body that is not JSON
            return _error(400, f"bad request: {err}")

    return wrapped


async def _json(request: Request) -> dict[str, Any]:
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _scale(data: dict[str, Any], default: float) -> float:
    value = data.get("scale", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeError(f"preview scale must be a number, got {value!r}")
    if not 0.05 <= float(value) <= 1.0:
        raise RecipeError(f"preview scale {value} is outside [0.05, 1]")
    return float(value)


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def create_app(config: StudioConfig) -> Starlette:
    """The Starlette application of the studio.

    Parameters
    ----------
    config : StudioConfig

    Returns
    -------
    starlette.applications.Starlette

    Raises
    ------
    OutputError
        The output folder cannot be created or written.
    """
    studio = _Studio(config)

    async def index(request: Request) -> Response:
        return FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-store"})

    @_guard
    async def get_config(request: Request) -> Response:
        frames = await run_in_threadpool(
            lambda: [studio.catalog.info(f.id) for f in studio.catalog.frames]
        )
        recipes = [{k: r[k] for k in ("id", "name", "origin")} for r in studio.recipes()]
        return JSONResponse(
            {
                "frames": frames,
                "recipes": recipes,
                "stages": registry_json(),
                "kinds": ["linear", "geometry", "photometric", "compose", "color"],
                "preview_scale": config.preview_scale,
                "out_dir": str(studio.out_dir),
                "formats": sorted(FORMATS),
                "default_recipe": "built-in:enhanced",
            }
        )

    @_guard
    async def thumb(request: Request) -> Response:
        fid = request.path_params["fid"]
        studio.catalog.get(fid)
        jpeg = await run_in_threadpool(studio.catalog.thumbnail, fid)
        return Response(jpeg, media_type="image/jpeg")

    @_guard
    async def get_recipe(request: Request) -> Response:
        rid = request.path_params["rid"]
        found = {r["id"]: r for r in studio.recipes()}
        if rid not in found:
            raise KeyError(rid)
        pipeline = Pipeline.from_toml(found[rid]["path"])
        return JSONResponse(recipe_to_page(pipeline))

    @_guard
    async def parse_recipe(request: Request) -> Response:
        data = await _json(request)
        text = data.get("text")
        label = str(data.get("filename") or "uploaded recipe")[:200]
        if not isinstance(text, str) or len(text) > 1_000_000:
            raise RecipeError("the recipe must be TOML text under 1 MB", path=label)
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise RecipeError(f"invalid TOML: {err}", path=label) from None
        return JSONResponse(recipe_to_page(Pipeline.from_dict(parsed, source=label)))

    @_guard
    async def preview(request: Request) -> Response:
        data = await _json(request)
        fid = str(data.get("frame"))
        studio.catalog.get(fid)
        pipeline = pipeline_from_page(data.get("recipe"))
        scale = _scale(data, config.preview_scale)
        t0 = time.perf_counter()
        res = await run_in_threadpool(studio.engine.preview, fid, pipeline, scale)
        jpeg = await run_in_threadpool(encode_jpeg, res.rgb)
        return JSONResponse(
            {
                "image": _data_url(jpeg),
                "width": int(res.rgb.shape[1]),
                "height": int(res.rgb.shape[0]),
                "rerun_from": res.rerun_from,
                "stages": res.labels,
                "seconds": round(res.seconds, 4),
                "total_seconds": round(time.perf_counter() - t0, 4),
                "timings": {k: round(v, 4) for k, v in res.timings.items()},
                "notes": res.notes,
                "fit": None if res.fit is None else res.fit.message,
                "digest": pipeline.digest(),
            }
        )

    @_guard
    async def snapshots(request: Request) -> Response:
        data = await _json(request)
        fid = str(data.get("frame"))
        studio.catalog.get(fid)
        pipeline = pipeline_from_page(data.get("recipe"))
        scale = _scale(data, config.preview_scale)
        shots = await run_in_threadpool(studio.engine.snapshots, fid, pipeline, scale)
        items = [
            {"label": label, "image": _data_url(encode_jpeg(img, quality=80))}
            for label, img in shots
        ]
        return JSONResponse({"snapshots": items})

    @_guard
    async def export(request: Request) -> Response:
        data = await _json(request)
        pipeline = pipeline_from_page(data.get("recipe"))
        text = recipe_toml(pipeline)
        out: dict[str, Any] = {"toml": text, "name": pipeline.name, "digest": pipeline.digest()}
        if data.get("save"):
            name = data.get("filename") or f"{pipeline.name}.toml"
            target = save_recipe(studio.out_dir, pipeline, str(name))
            resolve_inside(studio.out_dir, target.name)
            out["saved"] = target.name
        return JSONResponse(out)

    @_guard
    async def process(request: Request) -> Response:
        data = await _json(request)
        fid = str(data.get("frame"))
        frame = studio.catalog.get(fid)
        pipeline = pipeline_from_page(data.get("recipe"))
        fmt = str(data.get("format", "png8"))
        if fmt not in FORMATS:
            raise RecipeError(f"unknown format {fmt!r} (one of {', '.join(sorted(FORMATS))})")
        protect = [f.path for f in studio.catalog.frames]
        work = process_frame_job(
            frame.path,
            pipeline,
            studio.out_dir,
            fmt,
            protect,
            studio.full_fits,
            fid,
            config.max_pixels,
        )
        job = studio.jobs.start("process", 1, work)
        return JSONResponse(job.as_dict())

    @_guard
    async def batch(request: Request) -> Response:
        data = await _json(request)
        pipeline = pipeline_from_page(data.get("recipe"))
        fmt = str(data.get("format", "png8"))
        if fmt not in FORMATS:
            raise RecipeError(f"unknown format {fmt!r} (one of {', '.join(sorted(FORMATS))})")
        frames = [f.path for f in studio.catalog.frames]
        work = batch_job(frames, pipeline, studio.out_dir, fmt, config.jobs, config.max_pixels)
        job = studio.jobs.start("batch", len(frames), work)
        return JSONResponse(job.as_dict())

    @_guard
    async def job_status(request: Request) -> Response:
        return JSONResponse(studio.jobs.get(request.path_params["jid"]).as_dict())

    @_guard
    async def outputs(request: Request) -> Response:
        files = []
        for p in sorted(studio.out_dir.iterdir()):
            if p.is_file() and not p.name.startswith(".") and not p.is_symlink():
                files.append({"name": p.name, "bytes": p.stat().st_size})
        return JSONResponse({"out_dir": str(studio.out_dir), "files": files})

    @_guard
    async def output_file(request: Request) -> Response:
        target = resolve_inside(studio.out_dir, request.path_params["name"])
        if not target.is_file():
            raise KeyError(request.path_params["name"])
        return FileResponse(target)

    routes = [
        Route("/", index),
        Route("/api/config", get_config),
        Route("/api/frames/{fid}/thumb", thumb),
        Route("/api/recipes/parse", parse_recipe, methods=["POST"]),
        Route("/api/recipes/{rid:path}", get_recipe),
        Route("/api/preview", preview, methods=["POST"]),
        Route("/api/snapshots", snapshots, methods=["POST"]),
        Route("/api/export", export, methods=["POST"]),
        Route("/api/process", process, methods=["POST"]),
        Route("/api/batch", batch, methods=["POST"]),
        Route("/api/jobs/{jid}", job_status),
        Route("/api/outputs", outputs),
        Route("/api/outputs/{name:path}", output_file),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
    ]
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]", "testserver", config.host]
    hosts += list(config.allowed_hosts)
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    return Starlette(routes=routes, middleware=middleware)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise JunoCamError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(64)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(config: StudioConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the studio until interrupted (Ctrl-C); ``on_ready(url)`` once listening."""
    import uvicorn

    app = create_app(config)
    sock = _bind(config.host, config.port)
    url = _url(sock)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    if on_ready is not None:

        def announce() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                on_ready(url)

        threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])


def start_in_thread(config: StudioConfig) -> tuple[str, Callable[[], None]]:
    """Start the studio in a background thread: ``(url, stop)``, for tests and benchmarks."""
    import uvicorn

    app = create_app(config)
    sock = _bind(config.host, config.port)
    url = _url(sock)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20.0
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise JunoCamError(f"the studio server did not start on {url}")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10.0)
        sock.close()

    return url, stop
