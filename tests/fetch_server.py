"""A local HTTP server for the fetch tests, and the fixture trees it serves.

The server binds 127.0.0.1 on an ephemeral port, serves routes from memory (path and
query, URL-decoded), honours ``Range``/``If-Range``, logs every request, counts
simultaneous connections, and injects faults per route: N answers of 500 first, a
connection cut after K bytes, a truncated body, a delay (a slow server).
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from junocam.fetch import http


@dataclass
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    fail_times: int = 0  # answer 500 this many times first
    cut_after: int | None = None  # full Content-Length, then close after this many bytes
    cut_times: int = 0  # ... for this many answers
    delay: float = 0.0  # seconds before answering
    served: int = 0
    etag: str = ""

    def __post_init__(self) -> None:
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Server:
    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    active: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, path: str, body: bytes | str, **kw: object) -> Route:
        data = body.encode() if isinstance(body, str) else body
        if "content_type" not in kw and isinstance(body, str):
            kw["content_type"] = "text/html; charset=utf-8"
        route = Route(data, **kw)  # type: ignore[arg-type]
        self.routes[unquote(path)] = route
        return route

    def requested(self, fragment: str) -> list[tuple[str, str | None]]:
        return [entry for entry in self.log if fragment in entry[0]]


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            return None

        def handle(self) -> None:
            with server.lock:
                server.active += 1
                server.peak = max(server.peak, server.active)
            try:
                super().handle()
            finally:
                with server.lock:
                    server.active -= 1

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            key = unquote(self.path)
            rng = self.headers.get("Range")
            with server.lock:
                server.log.append((key, rng))
            route = server.routes.get(key)
            if route is None:
                self._send(404, b"not found", "text/plain")
                return
            if route.delay:
                server.stop.wait(route.delay)
            route.served += 1
            if route.fail_times > 0:
                route.fail_times -= 1
                self._send(500, b"server error", "text/plain")
                return
            body, start, code = route.body, 0, 200
            if_range = self.headers.get("If-Range")
            if rng and rng.startswith("bytes=") and (not if_range or if_range == route.etag):
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                code = 206
            self.send_response(code)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("ETag", route.etag)
            if code == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            payload = body[start:]
            if route.cut_after is not None and route.cut_times > 0:
                route.cut_times -= 1
                self.wfile.write(payload[: route.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a client that hangs up mid-answer is part of the tests


class running:  # noqa: N801 - used as a context manager
    """Start a :class:`Server` in a thread; stop it on exit."""

    def __init__(self) -> None:
        self.state = Server()
        self.httpd = _Quiet(("127.0.0.1", 0), _handler(self.state))
        self.state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.state.stop.set()  # wake slow answers
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# --- the mission website ------------------------------------------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass(frozen=True)
class WebImage:
    image_id: int
    product_id: str
    png: Path
    metadata: Path
    perijove: int

    @property
    def imageset_vault(self) -> int:
        return 100000 + 2 * self.image_id

    @property
    def dataset_vault(self) -> int:
        return 100001 + 2 * self.image_id


def listing_page(ids: list[int]) -> str:
    cards = "\n".join(
        f'<div class="card"><a href="/junocam/processing?id={i}"><img src="/t/{i}.jpg"></a></div>'
        for i in ids
    )
    return f"<html><body><h1>Processing</h1>{cards}<a href='?p=2'>next</a></body></html>"


def image_page(img: WebImage) -> str:
    return f"""<html><head><title>JunoCam {html.escape(img.product_id)}</title></head><body>
<h2>{img.product_id}</h2><p>Mission phase: PERIJOVE {img.perijove}</p>
<ul><li><a class="dl" href="/Vault/VaultDownload?VaultID={img.imageset_vault}">
Images <span>(ImageSet)</span></a></li>
<li><a class="dl" href="/Vault/VaultDownload?VaultID={img.dataset_vault}">Metadata (DataSet)</a>
</li></ul></body></html>"""


def add_website(server: Server, images: list[WebImage], per_page: int = 2) -> None:
    """Listing pages per perijove (``per_page`` images each), image pages and zips."""
    by_pj: dict[int, list[WebImage]] = {}
    for img in images:
        by_pj.setdefault(img.perijove, []).append(img)
    for pj, imgs in by_pj.items():
        ids = [i.image_id for i in sorted(imgs, key=lambda i: -i.image_id)]
        pages = [ids[k : k + per_page] for k in range(0, len(ids), per_page)]
        base = f"/junocam/processing?source=junocam&phases[]=PERIJOVE+{pj}&perpage=100"
        for n, page in enumerate(pages, start=1):
            server.add(base + (f"&p={n}" if n > 1 else ""), listing_page(page))
        server.add(base + f"&p={len(pages) + 1}", listing_page([]))
    for img in images:
        server.add(f"/junocam/processing?id={img.image_id}", image_page(img))
        server.add(
            f"/Vault/VaultDownload?VaultID={img.imageset_vault}",
            zip_bytes({f"ImageSet/{img.png.name}": img.png.read_bytes()}),
            content_type="application/zip",
        )
        meta = json.loads(img.metadata.read_text())
        meta.setdefault("FILE_NAME", img.png.name)
        server.add(
            f"/Vault/VaultDownload?VaultID={img.dataset_vault}",
            zip_bytes({f"DataSet/{img.image_id}-Metadata.json": json.dumps(meta).encode()}),
            content_type="application/zip",
        )


# --- directory listings (PDS, NAIF) ---------------------------------------------------


def apache_listing(title: str, entries: list[tuple[str, int | None]]) -> str:
    """An Apache-style fancy index; a size None is shown as a directory, big files as 1.3M."""
    rows = ['<a href="?C=N;O=D">Name</a> <a href="?C=M;O=A">Last modified</a>',
            '<a href="../">Parent Directory</a>                             -']  # fmt: skip
    for name, size in entries:
        if size is None:
            rows.append(f'<a href="{name}/">{name}/</a>     2022-08-10 12:00    -')
        else:
            shown = str(size) if size < 100_000 else f"{size / 1e6:.1f}M"
            rows.append(f'<a href="{name}">{name}</a>     2022-08-10 12:00  {shown}')
    body = "\n".join(rows)
    return (
        f"<html><head><title>Index of {title}</title></head><body><pre>{body}</pre></body></html>"
    )


def add_tree(server: Server, root: str, files: dict[str, bytes]) -> None:
    """Serve ``files`` (relative paths) under ``root`` with a listing for every folder."""
    folders: dict[str, dict[str, int | None]] = {}
    for rel, data in files.items():
        server.add(f"{root}/{rel}", data)
        parts = rel.split("/")
        for k in range(len(parts)):
            folder = "/".join(parts[:k])
            child = parts[k]
            folders.setdefault(folder, {})[child] = len(data) if k == len(parts) - 1 else None
    for folder, entries in folders.items():
        path = f"{root}/{folder}/" if folder else f"{root}/"
        server.add(path, apache_listing(path, sorted(entries.items())))


@pytest.fixture(name="server")
def server_fixture():
    """A local HTTP server on 127.0.0.1, stopped at teardown."""
    with running() as s:
        yield s


@pytest.fixture(name="fetch_env")
def fetch_env_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private download cache, and retries without real waiting."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("JUNOCAM_CACHE_DIR", str(cache))
    monkeypatch.setattr(http, "BACKOFF", 0.01)
    return cache
