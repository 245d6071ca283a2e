"""Find the raw frames of a batch and pair each with its metadata; hash the inputs.

Inputs are files, folders (searched recursively) and glob patterns. A PDS3 label
and its ``.IMG`` count once; each image is paired with the metadata decoding would
use, and every input file is hashed (SHA-256) so that a changed input is redone.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "a-raw.png").write_bytes(b"x"); _ = (d / "notes.txt").write_text("x")
>>> [p.name for p in discover([str(d)])]
['a-raw.png']
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..decode import find_metadata
from ..errors import JunoCamError

_IMAGE_SUFFIXES = {".png", ".lbl", ".img"}


@dataclass(frozen=True)
class FrameInputs:
    """One frame's input files.

    Attributes
    ----------
    entry : pathlib.Path
        The file given to :func:`junocam.decode.read_frame` (a PNG, ``.LBL`` or ``.IMG``).
    metadata : pathlib.Path or None
        The website JSON paired with a PNG (None for PDS3 products, or when none
        was found; decoding then reports the missing metadata).
    files : tuple of (str, pathlib.Path)
        Every file the result depends on, with its role (``image``, ``metadata``,
        ``label``), in a fixed order; these are hashed.
    error : str or None
        Why pairing failed (e.g. several metadata files match), if it did.

    Examples
    --------
    >>> FrameInputs(Path("a.png")).key
    '...a.png'
    """

    entry: Path
    metadata: Path | None = None
    files: tuple[tuple[str, Path], ...] = ()
    error: str | None = None

    @property
    def key(self) -> str:
        """The absolute path of :attr:`entry`: the frame's identity in the manifest."""
        return os.path.abspath(self.entry)


def _is_image_name(p: Path) -> bool:
    return p.suffix.lower() in _IMAGE_SUFFIXES and not p.name.startswith(".")


def _inside(p: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        Path(os.path.abspath(p)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def discover(
    inputs: Iterable[str | os.PathLike[str]], exclude: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Expand inputs into raw image files.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        Files (taken as they are, except ``.json`` metadata), folders (searched
        recursively for ``*.png``, ``*.LBL`` and ``*.IMG``, hidden names skipped)
        and glob patterns (``**`` allowed; only image names kept).
    exclude : str or os.PathLike, optional
        A folder whose files are never inputs (the batch's output directory).

    Returns
    -------
    list of pathlib.Path
        Sorted, without duplicates. An ``.IMG`` with an ``.LBL`` of the same stem
        beside it is left out (the label names it). A path that does not exist, or
        a pattern that matches nothing, is kept as it is, so that reading it
        reports the problem.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ["a-raw.png", "a-raw.json", "sub/B.LBL", "sub/B.IMG", "sub/C.IMG"]:
    ...     (d / name).parent.mkdir(exist_ok=True)
    ...     _ = (d / name).write_bytes(b"")
    >>> [p.relative_to(d).as_posix() for p in discover([str(d)])]
    ['a-raw.png', 'sub/B.LBL', 'sub/C.IMG']
    >>> [p.name for p in discover([str(d / "*.png"), str(d / "missing.png")])]
    ['a-raw.png', 'missing.png']
    """
    excl = Path(exclude) if exclude is not None else None
    found: dict[str, Path] = {}

    def add(p: Path) -> None:
        if not _inside(p, excl):
            found.setdefault(os.path.abspath(p), p)

    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p).parts
                if sub.is_file() and _is_image_name(sub) and not any(s[0] == "." for s in rel):
                    add(sub)
        elif p.exists():
            if p.suffix.lower() != ".json":
                add(p)
        elif _has_glob(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            images = [m for m in matches if m.is_file() and _is_image_name(m)]
            for m in images or [p]:
                add(m)
        else:
            add(p)
    paths = sorted(found.values(), key=lambda q: os.path.abspath(q))
    labels = {os.path.abspath(q.with_suffix("")).lower() for q in paths if suffix_of(q) == ".lbl"}
    return [
        q
        for q in paths
        if not (suffix_of(q) == ".img" and os.path.abspath(q.with_suffix("")).lower() in labels)
    ]


def suffix_of(p: Path) -> str:
    return p.suffix.lower()


def _sibling(p: Path, suffix: str) -> Path | None:
    """The file beside ``p`` with the same stem and ``suffix`` (any case), or None."""
    for cand in (p.with_suffix(suffix.upper()), p.with_suffix(suffix.lower())):
        if cand.is_file():
            return cand
    if p.parent.is_dir():
        want = (p.stem + suffix).lower()
        for cand in p.parent.iterdir():
            if cand.name.lower() == want and cand.is_file():
                return cand
    return None


def pair_inputs(path: str | os.PathLike[str]) -> FrameInputs:
    """Pair a raw image with the metadata that decoding will use.

    A PNG is paired with :func:`junocam.decode.find_metadata`'s file; an ``.LBL``
    with the ``.IMG`` of the same stem; an ``.IMG`` with its ``.LBL`` when it has
    no attached label.

    Parameters
    ----------
    path : str or os.PathLike
        An image from :func:`discover`.

    Returns
    -------
    FrameInputs
        With ``error`` set (never raised) when the pairing is ambiguous.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "X-raw.png").write_bytes(b"")
    >>> _ = (d / "X-raw.json").write_text("{}")
    >>> fi = pair_inputs(d / "X-raw.png")
    >>> fi.metadata.name, [role for role, _ in fi.files]
    ('X-raw.json', ['image', 'metadata'])
    """
    p = Path(path)
    suffix = suffix_of(p)
    try:
        if suffix == ".lbl":
            img = _sibling(p, ".img")
            files = [("label", p)] + ([("image", img)] if img is not None else [])
            return FrameInputs(p, None, tuple(files))
        if suffix == ".img":
            lbl = _sibling(p, ".lbl")
            files = [("image", p)] + ([("label", lbl)] if lbl is not None else [])
            return FrameInputs(p, None, tuple(files))
        meta = find_metadata(p) if p.is_file() else None
    except JunoCamError as err:
        return FrameInputs(p, None, (("image", p),), error=str(err))
    files = [("image", p)] + ([("metadata", meta)] if meta is not None else [])
    return FrameInputs(p, meta, tuple(files))


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content, hex.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_inputs(fi: FrameInputs) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Per-file records, the combined input hash, and an error if a file is unreadable."""
    records: list[dict[str, Any]] = []
    combined = hashlib.sha256()
    error = None
    for role, p in fi.files:
        try:
            digest: str | None = file_sha256(p)
        except OSError as err:
            digest = None
            error = error or f"{p}: cannot read: {err.strerror or err}"
        records.append({"role": role, "path": os.path.abspath(p), "sha256": digest})
        combined.update(f"{role}:{digest}\n".encode())
    return records, (None if error else combined.hexdigest()), error
