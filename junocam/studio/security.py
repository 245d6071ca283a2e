"""Path checks of the studio: only the served frames are read, only the output folder written.

The browser never names a file by its path. Frames are addressed by an opaque id
(:func:`frame_id`, a digest of the resolved path) that the server made when it
started; the only client-supplied names the studio accepts are plain file names
inside the output folder (to download a result, or to save an exported recipe),
and :func:`resolve_inside` turns such a name into a path only when it stays
inside that folder: no ``..``, no absolute path, no drive or backslash, no
control characters, no hidden file, and no symlink that leads out of it.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> out = Path(tempfile.mkdtemp())
>>> _ = (out / "a-enhanced.png").write_bytes(b"x")
>>> resolve_inside(out, "a-enhanced.png").name
'a-enhanced.png'
>>> for bad in ["../etc/passwd", "/etc/passwd", "%2e%2e/x", "a/../../b", ".hidden"]:
...     try:
...         resolve_inside(out, bad)
...     except PathRefused as err:
...         print(bad, "->", err.message)
../etc/passwd -> refused path '../etc/passwd': not a plain name inside the output folder
/etc/passwd -> refused path '/etc/passwd': not a plain name inside the output folder
%2e%2e/x -> refused path '%2e%2e/x': not a plain name inside the output folder
a/../../b -> refused path 'a/../../b': not a plain name inside the output folder
.hidden -> refused path '.hidden': not a plain name inside the output folder
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import OutputError

__all__ = ["PathRefused", "frame_id", "resolve_inside", "safe_file_name"]

#: A plain name: letters, digits, ``._-+`` and spaces, not starting with a dot.
_NAME = re.compile(r"^[A-Za-z0-9_+\-][A-Za-z0-9_+\-. ]{0,199}$")


class PathRefused(OutputError):
    """A client-supplied name that would leave the folder it must stay in."""


def frame_id(path: str | os.PathLike[str]) -> str:
    """The opaque id the page uses for a served frame (12 hex digits of its path's digest).

    Examples
    --------
    >>> len(frame_id("/data/a-raw.png")), frame_id("/data/a-raw.png") == frame_id("/data/b.png")
    (12, False)
    """
    resolved = os.path.realpath(os.fspath(path))
    return hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def safe_file_name(name: str) -> str:
    """``name`` if it is a plain file name (no folder part, no ``..``), else PathRefused.

    Percent signs are refused too, so URL-encoded variants (``%2e%2e%2f``) that a
    second decoding would turn into a traversal never pass.

    Examples
    --------
    >>> safe_file_name("my-look.toml")
    'my-look.toml'
    """
    if (
        not isinstance(name, str)
        or not _NAME.match(name)
        or ".." in name
        or name.strip() != name
        or name in (".", "..")
    ):
        raise PathRefused(f"refused path {name!r}: not a plain name inside the output folder")
    return name


def resolve_inside(root: str | os.PathLike[str], name: str) -> Path:
    """The file ``root/name`` when ``name`` is a plain name and stays inside ``root``.

    Symlinks are resolved: a link inside ``root`` that points outside is refused.

    Parameters
    ----------
    root : path
        The folder (the studio's output folder).
    name : str
        A client-supplied file name.

    Returns
    -------
    pathlib.Path
        The resolved path (it need not exist).

    Raises
    ------
    PathRefused
        The name has a folder part, ``..``, is absolute, hidden, has characters
        outside ``[A-Za-z0-9_+-. ]``, or resolves outside ``root``.
    """
    safe_file_name(name)
    base = Path(os.path.realpath(os.fspath(root)))
    target = Path(os.path.realpath(base / name))
    if target.parent != base:
        raise PathRefused(f"refused path {name!r}: it leads outside the output folder")
    return target
