"""The download cache: one file per URL, so nothing is downloaded twice.

The cache lives in the platform's user cache folder (``~/.cache/junocam`` on Linux),
or in the folder named by the ``JUNOCAM_CACHE_DIR`` environment variable. A URL's
file is ``<root>/<host>/<path>``; a query string (the website's
``VaultDownload?VaultID=N``) is folded into the last name with a short digest, so
different queries never share a file. A file is in the cache only once it is
complete: downloads grow in ``<file>.part`` and are renamed at the end, and
``<file>.json`` beside it records the URL, size, SHA-256 and the server's
validators.

Examples
--------
>>> import tempfile
>>> c = Cache(tempfile.mkdtemp())
>>> c.path_for("https://naif.jpl.nasa.gov/pub/naif/generic_kernels/lsk/naif0012.tls").relative_to(
...     c.root).as_posix()
'naif.jpl.nasa.gov/pub/naif/generic_kernels/lsk/naif0012.tls'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..output import atomic_write

__all__ = ["Cache", "default_cache_dir", "CACHE_ENV"]

#: Environment variable that overrides the cache folder.
CACHE_ENV = "JUNOCAM_CACHE_DIR"

_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-=@,]")


def default_cache_dir() -> Path:
    """``$JUNOCAM_CACHE_DIR`` if set, else the platform's user cache folder for junocam.

    Examples
    --------
    >>> import os
    >>> os.environ["JUNOCAM_CACHE_DIR"] = "/tmp/jc-cache"
    >>> str(default_cache_dir())
    '/tmp/jc-cache'
    >>> del os.environ["JUNOCAM_CACHE_DIR"]
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("junocam", appauthor=False))


def _safe(part: str) -> str:
    part = _UNSAFE.sub("_", unquote(part))
    return part if part not in ("", ".", "..") else "_"


class Cache:
    """A folder of downloaded files keyed by URL.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The cache folder (default :func:`default_cache_dir`). Created when first used.

    Examples
    --------
    >>> import tempfile
    >>> c = Cache(tempfile.mkdtemp())
    >>> a = c.path_for("http://127.0.0.1:8000/Vault/VaultDownload?VaultID=7")
    >>> b = c.path_for("http://127.0.0.1:8000/Vault/VaultDownload?VaultID=8")
    >>> a != b, a.parent.name
    (True, 'Vault')
    >>> c.lookup("http://127.0.0.1:8000/x") is None
    True
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, url: str) -> Path:
        """Where the complete download of ``url`` is kept."""
        u = urlsplit(url)
        host = _safe(u.netloc.replace(":", "_")) or "local"
        parts = [_safe(p) for p in u.path.split("/") if p]
        if not parts or u.path.endswith("/"):
            parts.append("index.html")
        if u.query:
            digest = hashlib.sha256(u.query.encode()).hexdigest()[:12]
            parts[-1] = f"{parts[-1]}@{_safe(u.query)[:40]}-{digest}"
        return self.root.joinpath(host, *parts)

    def lookup(self, url: str) -> Path | None:
        """The cached file of ``url`` if it is complete, else None."""
        p = self.path_for(url)
        return p if p.is_file() else None

    def record(self, url: str) -> dict[str, Any]:
        """What was recorded when ``url`` was downloaded ({} when nothing was)."""
        side = self.path_for(url).with_name(self.path_for(url).name + ".json")
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_record(self, url: str, data: dict[str, Any]) -> None:
        """Write the record of a completed download of ``url`` (atomically)."""
        p = self.path_for(url)
        text = json.dumps(data, indent=2, sort_keys=True).encode()
        atomic_write(p.with_name(p.name + ".json"), lambda fh: fh.write(text))

    def forget(self, url: str) -> None:
        """Remove ``url``'s file, its partial download and its record (a bad download)."""
        p = self.path_for(url)
        names = (p.name, p.name + ".part", p.name + ".part.json", p.name + ".json")
        for q in (p.with_name(n) for n in names):
            try:
                q.unlink()
            except FileNotFoundError:
                pass
