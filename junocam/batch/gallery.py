"""A static HTML gallery of a batch's results: thumbnails, key metadata, links.

:func:`write_gallery` reads the batch manifest (``OUT_DIR/manifest.jsonl``), makes
a small thumbnail of every finished image under ``OUT_DIR/thumbs/`` and writes
``OUT_DIR/index.html``. All links are relative, so the page opens from the file
system (no server) and the folder can be moved or archived as it is. Frames that
failed are listed with their error message.

Examples
--------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from junocam.batch import append_record
>>> from junocam.output import write_png
>>> d = Path(tempfile.mkdtemp())
>>> write_png(d / "JNCE_A-raw.png", np.full((40, 60, 3), 0.5, np.float32))
>>> append_record(d / "manifest.jsonl", {"key": "/in/a.png", "status": "done",
...     "outputs": ["JNCE_A-raw.png"], "recipe": "raw", "frame": {"perijove": 43}})
>>> page = write_gallery(d)
>>> page.name, sorted(p.name for p in (d / "thumbs").iterdir())
('index.html', ['JNCE_A-raw.png'])
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..errors import OutputError
from ..output import atomic_write, write_png
from .manifest import MANIFEST_NAME, latest_records, read_manifest

__all__ = ["write_gallery", "write_thumbnail", "gallery_html", "THUMB_DIR"]

#: Folder (inside the output directory) holding the thumbnails.
THUMB_DIR = "thumbs"

_IMAGE_SUFFIXES = (".png", ".tif", ".tiff")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; background: #111; color: #ddd; }
a { color: #9cf; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(%(w)dpx, 1fr));
        gap: 1em; }
figure { margin: 0; background: #1c1c1c; padding: .5em; border-radius: 6px; }
figure img { width: 100%%; height: auto; display: block; }
figcaption { font-size: .85em; line-height: 1.4; margin-top: .4em; }
.id { font-weight: bold; word-break: break-all; }
table { border-collapse: collapse; font-size: .9em; }
td, th { border: 1px solid #444; padding: .3em .6em; text-align: left; }
"""


def _read_image(path: Path) -> np.ndarray:
    """An output image as uint8 (H, W[, 3]) for thumbnails."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        a = tifffile.imread(path)
    else:
        from PIL import Image

        with Image.open(path) as im:
            a = np.asarray(im)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    return np.asarray(a, dtype=np.uint8)


def write_thumbnail(src: str | os.PathLike[str], dst: str | os.PathLike[str], size: int) -> None:
    """Write a PNG thumbnail of ``src`` fitting ``size`` x ``size`` pixels (atomically).

    Parameters
    ----------
    src : path
        An 8/16-bit PNG or 16-bit TIFF.
    dst : path
        The thumbnail PNG; its folder must exist.
    size : int
        Largest side in pixels (images already smaller are kept as they are).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> write_png(d / "big.png", np.zeros((300, 600, 3), np.float32))
    >>> write_thumbnail(d / "big.png", d / "small.png", 120)
    >>> Image.open(d / "small.png").size
    (120, 60)
    """
    from PIL import Image

    img = Image.fromarray(_read_image(Path(src)))
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    write_png(dst, np.asarray(img), bits=8)


def _href(rel: str) -> str:
    return html.escape(quote(rel), quote=True)


def _text(v: Any) -> str:
    return "?" if v is None or v == "" else html.escape(str(v))


def gallery_html(
    entries: Sequence[Mapping[str, Any]],
    failed: Sequence[Mapping[str, Any]],
    title: str,
    size: int,
) -> str:
    """The page's HTML (entries: ``image``, ``thumb``, ``record``, ``info`` dicts).

    Examples
    --------
    >>> page = gallery_html([], [{"error": "a.png: <bad>", "key": "a.png"}], "t", 200)
    >>> "&lt;bad&gt;" in page
    True
    """
    cards = []
    for e in entries:
        info = e["info"]
        filters = ", ".join(info.get("filters") or []) or "?"
        links = [f'<a href="{_href(e["image"])}">full image</a>']
        if e.get("record"):
            links.append(f'<a href="{_href(e["record"])}">record</a>')
        cards.append(
            "<figure>"
            f'<a href="{_href(e["image"])}"><img src="{_href(e["thumb"])}" '
            f'alt="{_text(info.get("product_id"))}" loading="lazy"></a>'
            "<figcaption>"
            f'<div class="id">{_text(info.get("product_id"))}</div>'
            f"<div>PJ {_text(info.get('perijove'))} &middot; {_text(info.get('target'))}</div>"
            f"<div>{_text(info.get('start_time'))}</div>"
            f"<div>filters: {_text(filters)}</div>"
            f"<div>recipe: {_text(e.get('recipe'))} "
            f"<small>({_text(e.get('recipe_digest'))})</small></div>"
            f"<div>{' &middot; '.join(links)}</div>"
            "</figcaption></figure>"
        )
    rows = [
        f"<tr><td>{_text(Path(str(r.get('key', '?'))).name)}</td>"
        f"<td>{_text(r.get('error'))}</td></tr>"
        for r in failed
    ]
    failed_html = (
        f"<h2>Failed ({len(failed)})</h2><table><tr><th>input</th><th>error</th></tr>"
        + "".join(rows)
        + "</table>"
        if failed
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_text(title)}</title><style>{_CSS % {'w': size}}</style></head><body>"
        f"<h1>{_text(title)}</h1>"
        f"<p>{len(entries)} image(s); manifest: "
        f'<a href="{_href(MANIFEST_NAME)}">{MANIFEST_NAME}</a></p>'
        f'<div class="grid">{"".join(cards)}</div>{failed_html}</body></html>\n'
    )


def write_gallery(
    out_dir: str | os.PathLike[str], title: str | None = None, size: int = 320
) -> Path:
    """Write ``index.html`` and thumbnails for the finished frames of a batch.

    Parameters
    ----------
    out_dir : path
        A batch output directory (holding ``manifest.jsonl``).
    title : str, optional
        Page title (default: the folder name).
    size : int
        Thumbnail size in pixels (largest side).

    Returns
    -------
    pathlib.Path
        The page.

    Raises
    ------
    OutputError
        When the folder has no manifest, or the page cannot be written.
    """
    out = Path(out_dir)
    manifest = out / MANIFEST_NAME
    if not manifest.is_file():
        raise OutputError(f"no {MANIFEST_NAME} here (run `junocam batch` first)", path=out)
    thumbs = out / THUMB_DIR
    thumbs.mkdir(exist_ok=True)
    entries: list[dict[str, Any]] = []
    failed: list[Mapping[str, Any]] = []
    records = sorted(latest_records(read_manifest(manifest)).values(), key=_sort_key)
    for rec in records:
        if rec.get("status") != "done":
            failed.append(rec)
            continue
        outputs = [str(o) for o in rec.get("outputs", [])]
        images = [o for o in outputs if o.lower().endswith(_IMAGE_SUFFIXES)]
        if not images or not (out / images[0]).is_file():
            continue
        image = images[0]
        thumb = f"{THUMB_DIR}/{Path(image).stem}.png"
        src, dst = out / image, out / thumb
        if not _thumb_current(src, dst, size):
            write_thumbnail(src, dst, size)
        record = next((o for o in outputs if o.endswith(".json")), None)
        entries.append(
            {
                "image": image,
                "thumb": thumb,
                "record": record if record and (out / record).is_file() else None,
                "info": rec.get("frame") or {"product_id": Path(image).stem},
                "recipe": rec.get("recipe"),
                "recipe_digest": rec.get("recipe_digest"),
            }
        )
    page = gallery_html(entries, failed, title or f"junocam: {out.resolve().name}", size)
    target = out / "index.html"
    atomic_write(target, lambda fh: fh.write(page.encode("utf-8")))
    return target


def _thumb_current(src: Path, dst: Path, size: int) -> bool:
    """Whether ``dst`` is a thumbnail of ``src`` at ``size`` (headers only, no decoding)."""
    from PIL import Image

    try:
        if dst.stat().st_mtime < src.stat().st_mtime:
            return False
        with Image.open(dst) as t, Image.open(src) as s:
            return max(t.size) == min(size, max(s.size))
    except (OSError, ValueError):
        return False


def _sort_key(rec: Mapping[str, Any]) -> tuple[str, str]:
    info = rec.get("frame") or {}
    return (str(info.get("start_time") or ""), str(rec.get("key", "")))
