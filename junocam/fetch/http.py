"""Downloads that behave: cached, resumable, atomic, checked, retried, polite.

:class:`Downloader` fetches a URL into the :class:`~junocam.fetch.cache.Cache`:

- a complete file in the cache is used as it is (``--offline`` uses nothing else and
  names what is missing);
- bytes arrive in ``<file>.part``; after a cut connection, a timeout or a server
  error the download resumes from there with an HTTP ``Range`` request (guarded by
  ``If-Range`` with the server's ETag or date, so a file that changed meanwhile is
  fetched again from the start), in this run after a backoff or in the next run;
- the finished file is checked against the size and checksums known beforehand
  (a PDS label's record count and MD5, a listing's size) and against the size the
  server announced, then renamed into place: a file in the cache is always whole;
- 5xx answers, 429, dropped connections and timeouts are retried with exponential
  backoff; other 4xx answers (404...) fail at once with one clear message;
- at most two connections per host (one ``httpx`` client per host, limited to two).

``httpx`` is the client: it is typed, has separate connect/read timeouts, and
enforces connection limits per client, which is what the two-per-host rule needs.

Examples
--------
>>> import tempfile
>>> from junocam.fetch.cache import Cache
>>> d = Downloader(Cache(tempfile.mkdtemp()), offline=True)
>>> d.get("http://127.0.0.1:9/none.bin")                 # doctest: +ELLIPSIS
Traceback (most recent call last):
...
junocam.errors.FetchError: http://127.0.0.1:9/none.bin: not in the cache (...); run without ...
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .._version import __version__
from ..errors import FetchError
from .cache import Cache

__all__ = [
    "Downloader",
    "ProgressHook",
    "NullProgress",
    "MAX_CONNECTIONS_PER_HOST",
    "require_httpx",
]

#: At most this many simultaneous connections to one host.
MAX_CONNECTIONS_PER_HOST = 2
#: First retry delay, s; doubled on every further retry, capped at :data:`MAX_BACKOFF`.
BACKOFF = 1.0
MAX_BACKOFF = 30.0


class ProgressHook(Protocol):
    """What a downloader reports to: one task per file, bytes as they arrive."""

    def start(self, label: str, total: int | None, done: int) -> Any: ...

    def advance(self, task: Any, n: int) -> None: ...

    def stop(self, task: Any) -> None: ...


class NullProgress:
    """A :class:`ProgressHook` that shows nothing.

    Examples
    --------
    >>> p = NullProgress()
    >>> p.advance(p.start("x", 10, 0), 5)
    """

    def start(self, label: str, total: int | None, done: int) -> Any:
        return None

    def advance(self, task: Any, n: int) -> None:
        return None

    def stop(self, task: Any) -> None:
        return None


def require_httpx() -> Any:
    """Import ``httpx`` or raise a :class:`FetchError` saying how to get it.

    Examples
    --------
    >>> require_httpx().__name__
    'httpx'
    """
    try:
        import httpx
    except ImportError:
        raise FetchError("downloading needs httpx: pip install 'junocam[fetch]'") from None
    return httpx


class _Retry(Exception):
    """A transient failure: try again (after a backoff), resuming the partial file."""


@dataclass
class _Answer:
    total: int
    etag: str | None
    last_modified: str | None
    content_type: str | None


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header (None where not given)."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None, None
    first = int(m.group(1)) if m.group(1) else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return first, total


def _file_digests(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


class Downloader:
    """Fetch URLs into a cache; see the module docstring for the behaviour.

    Parameters
    ----------
    cache : Cache, optional
        Where files are kept (default: the user cache folder).
    offline : bool
        Use the cache only; a missing file is a :class:`~junocam.errors.FetchError`.
    timeout : float
        Seconds to wait for a connection or for the next bytes of an answer.
    retries : int
        Further attempts after a transient failure.
    progress : ProgressHook, optional
        Told about every transfer (a rich progress bar in the CLI).

    Examples
    --------
    >>> import tempfile
    >>> with Downloader(Cache(tempfile.mkdtemp()), retries=0, timeout=1.0) as d:
    ...     d.get("http://127.0.0.1:9/x")                  # nothing listens on port 9
    Traceback (most recent call last):
    ...
    junocam.errors.FetchError: http://127.0.0.1:9/x: gave up after 1 attempt (connection failed: ...
    """

    def __init__(
        self,
        cache: Cache | None = None,
        *,
        offline: bool = False,
        timeout: float = 30.0,
        retries: int = 4,
        progress: ProgressHook | None = None,
    ) -> None:
        self.cache = cache if cache is not None else Cache()
        self.offline = offline
        self.timeout = timeout
        self.retries = retries
        self.progress: ProgressHook = progress if progress is not None else NullProgress()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop every transfer soon (Ctrl-C): each ends with a FetchError and keeps its
        partial file for the next run."""
        self._cancel.set()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def _client(self, url: str) -> Any:
        httpx = require_httpx()
        host = urlsplit(url).netloc.lower()
        with self._lock:
            client = self._clients.get(host)
            if client is None:
                client = httpx.Client(
                    limits=httpx.Limits(
                        max_connections=MAX_CONNECTIONS_PER_HOST,
                        max_keepalive_connections=MAX_CONNECTIONS_PER_HOST,
                    ),
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=True,
                    headers={
                        "User-Agent": f"junocam/{__version__} (+https://pypi.org/project/junocam)",
                        # sizes and checksums are of the file, not of a compressed transfer
                        "Accept-Encoding": "identity",
                    },
                )
                self._clients[host] = client
        return client

    def text(self, url: str, *, refresh: bool = True) -> str:
        """The body of a page or listing as text.

        Pages change (new images are listed), so by default they are downloaded again
        unless offline; the copy in the cache serves ``--offline``.

        Examples
        --------
        >>> import tempfile
        >>> c = Cache(tempfile.mkdtemp())
        >>> p = c.path_for("http://127.0.0.1:9/page"); p.parent.mkdir(parents=True)
        >>> _ = p.write_text("<html>hi</html>")
        >>> Downloader(c, offline=True).text("http://127.0.0.1:9/page")
        '<html>hi</html>'
        """
        path = self.get(url, refresh=refresh)
        return path.read_bytes().decode("utf-8", errors="replace")

    def get(
        self,
        url: str,
        *,
        size: int | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        refresh: bool = False,
        label: str | None = None,
    ) -> Path:
        """Download ``url`` (or find it in the cache) and return the cached file.

        Parameters
        ----------
        url : str
        size : int, optional
            The file's size in bytes when known beforehand.
        md5, sha256 : str, optional
            Hex digests when known beforehand.
        refresh : bool
            Download again even if the cache has the file (ignored offline).
        label : str, optional
            Name shown by the progress bar (default: the URL's file name).

        Returns
        -------
        pathlib.Path
            The complete file in the cache.

        Raises
        ------
        FetchError
            On an HTTP error, when retries run out (the partial file is kept and the
            next run resumes it), on a wrong size or checksum (the bad file is
            discarded), or offline when the cache lacks the file.
        """
        final = self.cache.path_for(url)
        if final.is_file() and (self.offline or not refresh):
            if size is None or final.stat().st_size == size:
                return final
            if self.offline:
                raise FetchError(
                    f"the cached copy {final} has {final.stat().st_size} bytes, "
                    f"{size} expected; run without --offline to download it again",
                    path=url,
                )
            self.cache.forget(url)
        if self.offline:
            raise FetchError(
                f"not in the cache ({final}); run without --offline to download it", path=url
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + ".part")
        if refresh:
            part.unlink(missing_ok=True)
        u = urlsplit(url)
        name = label or (Path(u.path).name + (f"?{u.query}" if u.query else ""))[-48:] or url
        attempts = self.retries + 1
        answer: _Answer | None = None
        reason = ""
        for attempt in range(attempts):
            if self._cancel.is_set():
                raise FetchError("interrupted; re-run the same command to resume", path=url)
            if attempt:
                time.sleep(min(BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF))
            try:
                answer = self._attempt(url, part, size, name)
                break
            except _Retry as err:
                reason = str(err)
        if answer is None:
            kept = part.stat().st_size if part.is_file() else 0
            resume = (
                f"{kept} bytes are kept; re-run the same command to resume"
                if kept
                else "re-run the same command to try again"
            )
            plural = "s" if attempts > 1 else ""
            raise FetchError(f"gave up after {attempts} attempt{plural} ({reason}); {resume}", url)
        got = part.stat().st_size
        if size is not None and got != size:
            part.unlink()
            raise FetchError(
                f"wrong size: received {got} bytes, {size} expected; the download was "
                "discarded, re-run to try again",
                path=url,
            )
        got_md5, got_sha = _file_digests(part)
        for kind, want, have in (("MD5", md5, got_md5), ("SHA-256", sha256, got_sha)):
            if want is not None and want.lower() != have:
                part.unlink()
                raise FetchError(
                    f"{kind} checksum mismatch: received {have}, {want.lower()} expected; "
                    "the download was discarded, re-run to try again",
                    path=url,
                )
        os.replace(part, final)
        final.with_name(final.name + ".part.json").unlink(missing_ok=True)
        self.cache.write_record(
            url,
            {
                "url": url,
                "size": got,
                "sha256": got_sha,
                "md5": got_md5,
                "etag": answer.etag,
                "last_modified": answer.last_modified,
                "content_type": answer.content_type,
                "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        return final

    def _attempt(self, url: str, part: Path, size: int | None, name: str) -> _Answer:
        import httpx

        client = self._client(url)
        have = part.stat().st_size if part.is_file() else 0
        meta_path = part.with_name(part.name + ".json")
        headers: dict[str, str] = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            validator = _read_validator(meta_path)
            if validator:
                headers["If-Range"] = validator
        try:
            with client.stream("GET", url, headers=headers) as r:
                code = r.status_code
                etag = r.headers.get("ETag")
                modified = r.headers.get("Last-Modified")
                ctype = r.headers.get("Content-Type")
                if code == 416 and have:
                    _, total = _content_range(r.headers.get("Content-Range"))
                    if total == have:  # the previous run had every byte already
                        return _Answer(have, etag, modified, ctype)
                    part.unlink()
                    raise _Retry("the server refused to resume; starting again")
                if code == 429 or code >= 500:
                    raise _Retry(f"HTTP {code} {r.reason_phrase}".strip())
                if code >= 400:
                    failure = FetchError(f"HTTP {code} {r.reason_phrase}".strip(), path=url)
                    failure.status = code
                    raise failure
                if code == 206:
                    first, total = _content_range(r.headers.get("Content-Range"))
                    if first != have:
                        part.unlink()
                        raise _Retry("the server resumed at the wrong offset; starting again")
                    mode = "ab"
                else:
                    have, mode = 0, "wb"
                    length = r.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    meta_path.write_text(json.dumps({"etag": etag, "last_modified": modified}))
                if size is not None and total is not None and total != size:
                    part.unlink(missing_ok=True)
                    raise FetchError(
                        f"wrong size: the server announces {total} bytes, {size} expected",
                        path=url,
                    )
                task = self.progress.start(name, total, have)
                try:
                    with open(part, mode) as fh:
                        for chunk in r.iter_raw():
                            if self._cancel.is_set():
                                raise FetchError(
                                    "interrupted; re-run the same command to resume", path=url
                                )
                            fh.write(chunk)
                            self.progress.advance(task, len(chunk))
                finally:
                    self.progress.stop(task)
                got = part.stat().st_size
                if total is not None and got != total:
                    raise _Retry(f"connection closed after {got} of {total} bytes")
                return _Answer(got, etag, modified, ctype)
        except httpx.TimeoutException:
            raise _Retry(f"no answer within {self.timeout:g} s") from None
        except httpx.TransportError as err:
            raise _Retry(f"connection failed: {err or type(err).__name__}") from None
        except OSError as err:
            raise FetchError(f"cannot write {part}: {err.strerror or err}", path=url) from None


def _read_validator(meta_path: Path) -> str | None:
    try:
        data = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    etag = data.get("etag")
    if isinstance(etag, str) and not etag.startswith("W/"):
        return etag
    modified = data.get("last_modified")
    return modified if isinstance(modified, str) else None
