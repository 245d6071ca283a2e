"""Reading raw JunoCam frames: finding metadata, decoding PNG and PDS3 products.

This module owns the project's file input. It pairs an image with its metadata,
checks the file before decoding it (the PNG header is parsed here, so absurd sizes
are refused before any pixel is allocated), decodes the pixels and checks them
against the metadata. The stage functions elsewhere are pure array functions.

Supported inputs:

- the mission website's ``*-raw.png`` (8-bit greyscale, 1648 wide) with its
  ``*-Metadata.json`` (found automatically, see :func:`find_metadata`);
- PDS3 EDR/RDR products: a detached ``.LBL`` next to its ``.IMG``, or an ``.IMG``
  with an attached label; 8-bit or 16-bit samples, MSB or LSB;
- a raw PNG without metadata: the strip is assumed to be RGB when its height fits
  (see :func:`junocam.metadata.assumed_meta`), and every assumed value is recorded.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from junocam.output import write_png
>>> d = tempfile.mkdtemp()
>>> write_png(os.path.join(d, "JNCE_X-raw.png"), np.zeros((384, 1648), np.uint8))
>>> frame = read_frame(os.path.join(d, "JNCE_X-raw.png"))
>>> frame.meta.product_id, frame.framelets.data.shape, frame.meta.assumed[:2]
('JNCE_X', (1, 3, 128, 1648), ('product_id', 'filters'))
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .companding import decompand
from .errors import FormatError, MetadataError, MissingMetadataError, SizeLimitError
from .framelets import Framelets, split
from .metadata import (
    FRAMELET_LINES,
    LINE_SAMPLES,
    Filter,
    FrameMeta,
    _loads_pvl,
    assumed_meta,
    from_pds3_label,
    from_website_json,
    product_id_from_filename,
)

__all__ = [
    "RawFrame",
    "PngHeader",
    "read_frame",
    "find_metadata",
    "read_png_header",
    "load_metadata",
    "DEFAULT_MAX_PIXELS",
]

#: Default limit on width x height of an input image (about 60 000 lines of 1648).
DEFAULT_MAX_PIXELS = 100_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


@dataclass(frozen=True, eq=False)
class RawFrame:
    """One raw frame: the strip's pixels and their metadata.

    Attributes
    ----------
    pixels : numpy.ndarray
        2-D ``(lines, 1648)`` strip, uint8 (companded) or uint16 (linear RDR).
    meta : FrameMeta
        The frame's metadata; ``meta.assumed`` lists values not read from the product.
    path : str or None
        The image file it was read from.

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> f = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384))
    >>> f.framelets.band("GREEN").shape
    (1, 128, 1648)
    """

    pixels: np.ndarray
    meta: FrameMeta
    path: str | None = None

    @property
    def framelets(self) -> Framelets:
        """Zero-copy framelet view of :attr:`pixels` (see :func:`junocam.framelets.split`)."""
        return split(self.pixels, self.meta.filters, self.meta.framelet_lines)

    def linear(self) -> np.ndarray:
        """The strip decompanded to linear float32 DN (a new array).

        Examples
        --------
        >>> from junocam.metadata import assumed_meta
        >>> f = RawFrame(np.full((384, 1648), 255, np.uint8), assumed_meta(384))
        >>> float(f.linear().max())
        2879.0
        """
        return decompand(self.pixels, self.meta.companding)


# ---------------------------------------------------------------------------
# PNG header


@dataclass(frozen=True)
class PngHeader:
    """The fields of a PNG IHDR chunk.

    Examples
    --------
    >>> h = PngHeader(1648, 384, 8, 0, 0)
    >>> h.pixels, h.describe()
    (632832, '8-bit greyscale')
    """

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int

    @property
    def pixels(self) -> int:
        """width x height."""
        return self.width * self.height

    def describe(self) -> str:
        """Human-readable depth and colour type, e.g. ``"16-bit RGB"``."""
        kind = _COLOUR_TYPES.get(self.colour_type, f"colour type {self.colour_type}")
        return f"{self.bit_depth}-bit {kind}"


def read_png_header(path: str | os.PathLike[str]) -> PngHeader:
    """Read and check a PNG file's signature and IHDR chunk, without decoding pixels.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    PngHeader

    Raises
    ------
    FormatError
        If the file cannot be read, is not a PNG, or its header is truncated or
        invalid.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> _ = open(p, "wb").write(b"GIF89a not a png")
    >>> read_png_header(p)
    Traceback (most recent call last):
    ...
    junocam.errors.FormatError: ...x.png: not a PNG file (bad signature)
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
    except OSError as err:
        raise FormatError(f"cannot read: {err.strerror or err}", path=path) from None
    if len(head) < 8 or head[:8] != _PNG_SIGNATURE:
        if not head:
            raise FormatError("not a PNG file (empty file)", path=path)
        raise FormatError("not a PNG file (bad signature)", path=path)
    if len(head) < 33:
        raise FormatError(f"truncated PNG: only {len(head)} bytes, no complete header", path=path)
    length, ctype = struct.unpack(">I4s", head[8:16])
    if ctype != b"IHDR" or length != 13:
        raise FormatError("invalid PNG: the first chunk is not a 13-byte IHDR", path=path)
    width, height, depth, colour, comp, filt, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if width == 0 or height == 0:
        raise FormatError(f"invalid PNG: size {width}x{height}", path=path)
    if comp != 0 or filt != 0 or interlace not in (0, 1):
        raise FormatError(
            f"invalid PNG header: compression method {comp}, filter method {filt}, "
            f"interlace method {interlace} (PNG defines 0, 0 and 0 or 1)",
            path=path,
        )
    return PngHeader(width, height, depth, colour, interlace)


# ---------------------------------------------------------------------------
# Metadata discovery and loading


def find_metadata(png_path: str | os.PathLike[str]) -> Path | None:
    """Find the metadata JSON that belongs to a raw PNG.

    Looked for, in order:

    1. ``<stem>.json`` and ``<stem>-Metadata.json`` next to the image, also with a
       trailing ``-raw`` removed from the stem;
    2. the ``*-Metadata.json`` files in the image's folder whose FILE_NAME or
       PRODUCT_ID matches the image (the website names them by numeric id);
    3. the website's download layout ``<id>-ImageSet/ImageSet/<image>.png`` with
       ``<id>-ImageSet/DataSet/<id>-Metadata.json``, matched the same way.

    A folder holding exactly one ``*-Metadata.json`` that is not valid JSON yields
    that file, so that reading it reports the real problem.

    Parameters
    ----------
    png_path : str or os.PathLike
        The image.

    Returns
    -------
    pathlib.Path or None
        None when nothing matches.

    Raises
    ------
    MetadataError
        If several metadata files match the image.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "13537-Metadata.json"), "w").write(
    ...     '{"FILE_NAME": "JNCE_A-raw.png"}')
    >>> find_metadata(os.path.join(d, "JNCE_A-raw.png")).name
    '13537-Metadata.json'
    >>> find_metadata(os.path.join(d, "JNCE_B-raw.png")) is None
    True
    """
    png = Path(png_path)
    folder = png.parent
    stems = [png.stem]
    pid = product_id_from_filename(png.name)
    if pid != png.stem:
        stems.append(pid)
    for stem in stems:
        for name in (f"{stem}.json", f"{stem}-Metadata.json"):
            candidate = folder / name
            if candidate.is_file():
                return candidate
    found = _matching_json(folder, png.name, pid)
    if found is None and folder.name.lower() == "imageset":
        found = _matching_json(folder.parent / "DataSet", png.name, pid)
    return found


def _matching_json(folder: Path, file_name: str, product_id: str) -> Path | None:
    """The one ``*-Metadata.json`` in ``folder`` naming this image, or None."""
    if not folder.is_dir():
        return None
    candidates = sorted(c for c in folder.glob("*-Metadata.json") if c.is_file())
    matches: list[Path] = []
    for candidate in candidates:
        try:
            data = _read_json(candidate)
        except MetadataError:
            if len(candidates) == 1:
                return candidate  # let the reader report what is wrong with it
            continue
        if not isinstance(data, Mapping):
            continue
        names = [data.get("FILE_NAME"), data.get("PRODUCT_ID")]  # any JSON type
        if file_name in names or product_id in names:
            matches.append(candidate)
    if len(matches) > 1:
        listed = ", ".join(m.name for m in matches)
        raise MetadataError(f"several metadata files match {file_name}: {listed}", path=folder)
    return matches[0] if matches else None


def load_metadata(path: str | os.PathLike[str]) -> FrameMeta:
    """Read a metadata file: website JSON (``.json``) or PDS3 label (anything else).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    FrameMeta

    Raises
    ------
    MissingMetadataError
        If the file does not exist.
    MetadataError
        If it is not valid JSON / PVL or its values are wrong.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> _ = open(p, "w").write('{"PRODUCT_ID": "X", "FILTER_NAME": ["RED"], "LINES": 128}')
    >>> load_metadata(p).filters
    (<Filter.RED: 'RED'>,)
    """
    p = Path(path)
    if not p.is_file():
        raise MissingMetadataError("metadata file does not exist", path=p)
    if p.suffix.lower() == ".json":
        return from_website_json(_read_json(p), source=p)
    return from_pds3_label(_read_label_text(p), source=p)


#: Largest metadata JSON read (the website's are a few kB).
_MAX_JSON_BYTES = 1 << 24


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > _MAX_JSON_BYTES:
                raise MetadataError(
                    f"metadata file is larger than {_MAX_JSON_BYTES} bytes", path=path
                )
            raw = fh.read(size + 1)  # read(n) allocates n bytes up front
    except OSError as err:
        raise MetadataError(f"cannot read: {err.strerror or err}", path=path) from None
    if len(raw) > _MAX_JSON_BYTES:  # grew while being read
        raise MetadataError(f"metadata file is larger than {_MAX_JSON_BYTES} bytes", path=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError("malformed JSON: not UTF-8 text", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise MetadataError(
            f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}", path=path
        ) from None
    except RecursionError:
        raise MetadataError("malformed JSON: nested too deeply", path=path) from None


# blanks within the line only: with ``\s*`` (newlines too) a run of n empty lines
# cost O(n^2), 3 s for 40,000 of them
_END_LINE = re.compile(rb"^[ \t\r\f\v]*END[ \t\r\f\v]*$", re.MULTILINE)


def _read_label_text(path: Path, limit: int = 1 << 20) -> bytes:
    """The PVL text of a label file (up to its END line, for attached labels)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(limit)
    except OSError as err:
        raise MetadataError(f"cannot read: {err.strerror or err}", path=path) from None
    m = _END_LINE.search(head)
    if m is None:
        raise MetadataError("malformed PVL label: no END statement", path=path)
    return head[: m.end()]


def _has_attached_label(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
    except OSError:
        return False
    return head.startswith((b"PDS_VERSION_ID", b"CCSD", b"ODL_VERSION_ID"))


# ---------------------------------------------------------------------------
# Reading frames


def read_frame(
    path: str | os.PathLike[str],
    metadata: str | os.PathLike[str] | None = None,
    *,
    filters: Sequence[Filter | str] | None = None,
    interframe_delay: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_assumed: bool = True,
) -> RawFrame:
    """Read a raw JunoCam frame and its metadata.

    Parameters
    ----------
    path : str or os.PathLike
        A website ``*-raw.png``, a PDS3 ``.LBL`` (detached label) or ``.IMG``
        (attached label, or detached with the ``.LBL`` beside it).
    metadata : str or os.PathLike, optional
        Explicit metadata file (website JSON or PDS3 label) for a PNG; by default it
        is found with :func:`find_metadata`.
    filters : sequence of Filter or str, optional
        Filters in readout order, used only when the metadata does not give them
        (recorded as assumed). Contradicting the metadata is an error.
    interframe_delay : float, optional
        Seconds between exposures, used only when the metadata lacks it (recorded
        as assumed). Contradicting the metadata is an error.
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.
    allow_assumed : bool
        When no metadata is found: if True, assume it (:func:`assumed_meta`); if
        False, raise MissingMetadataError unless ``filters`` is given.

    Returns
    -------
    RawFrame

    Raises
    ------
    FormatError
        Not a readable PNG/PDS3 product, wrong width, depth or colour type, height
        not a multiple of 128 x number of filters, truncated data, missing ``.IMG``.
    SizeLimitError
        The image has more than ``max_pixels`` pixels.
    MetadataError
        Malformed metadata, or metadata that contradicts the pixels (LINES versus
        the image height).
    MissingMetadataError
        No metadata and ``allow_assumed`` is False with no ``filters``.

    Examples
    --------
    >>> import tempfile, os
    >>> from junocam.output import write_png
    >>> p = os.path.join(tempfile.mkdtemp(), "JNCE_M-raw.png")
    >>> write_png(p, np.zeros((256, 1648), np.uint8))
    >>> read_frame(p, filters=["METHANE"]).meta.n_exposures
    2
    """
    p = Path(path)
    if not p.exists():
        raise FormatError("file does not exist", path=p)
    if p.is_dir():
        raise FormatError("is a directory, expected an image file", path=p)
    if not p.is_file():  # a FIFO or device would block or never end
        raise FormatError("is not a regular file", path=p)
    suffix = p.suffix.lower()
    if suffix == ".lbl":
        frame = _read_pds3(p, p, max_pixels)
    elif suffix == ".img" or (suffix != ".png" and _has_attached_label(p)):
        frame = _read_pds3(p, _label_for_img(p), max_pixels)
    else:
        frame = _read_png_frame(p, metadata, filters, interframe_delay, max_pixels, allow_assumed)
    meta = _apply_overrides(frame.meta, filters, interframe_delay, p)
    if meta is not frame.meta:
        frame = dataclasses.replace(frame, meta=meta)
    _check_consistency(frame.pixels, frame.meta, p)
    return frame


def _read_png_frame(
    p: Path,
    metadata: str | os.PathLike[str] | None,
    filters: Sequence[Filter | str] | None,
    interframe_delay: float | None,
    max_pixels: int,
    allow_assumed: bool,
) -> RawFrame:
    """Header checks, metadata lookup, then pixel decoding of a website PNG."""
    header = read_png_header(p)
    _check_png_header(header, p, max_pixels)
    meta_path = Path(metadata) if metadata is not None else find_metadata(p)
    if meta_path is not None:
        meta = _load_metadata_with_filters(meta_path, filters)
    elif not (allow_assumed or filters is not None):
        raise MissingMetadataError(
            f"no metadata found (looked for {p.stem}.json, {p.stem}-Metadata.json and "
            "*-Metadata.json naming this image); give --metadata, or --filters "
            "(and optionally --interframe-delay) to supply it",
            path=p,
        )
    pixels = _decode_png(p, header)
    if meta_path is None:
        # the framelets themselves tell the filters when the name and height do not
        meta = assumed_meta(header.height, filters, interframe_delay, source=p, pixels=pixels)
    return RawFrame(pixels=pixels, meta=meta, path=os.fspath(p))


def _load_metadata_with_filters(
    meta_path: Path, filters: Sequence[Filter | str] | None
) -> FrameMeta:
    """load_metadata, but a JSON lacking FILTER_NAME may take the user's filters."""
    if filters is not None and meta_path.suffix.lower() == ".json" and meta_path.is_file():
        data = _read_json(meta_path)
        if isinstance(data, Mapping) and "FILTER_NAME" not in data:
            names = [Filter.parse(f).value for f in filters]
            meta = from_website_json({**data, "FILTER_NAME": names}, source=meta_path)
            return dataclasses.replace(meta, assumed=(*meta.assumed, "filters"))
    return load_metadata(meta_path)


def _check_png_header(header: PngHeader, p: Path, max_pixels: int) -> None:
    if header.pixels > max_pixels:
        raise SizeLimitError(
            f"image is {header.width}x{header.height} = {header.pixels} pixels, more than "
            f"the limit of {max_pixels} (raise it with --max-pixels); refused before decoding",
            path=p,
        )
    if header.bit_depth != 8 or header.colour_type != 0:
        raise FormatError(
            f"image is {header.describe()} (PNG bit depth {header.bit_depth}, colour type "
            f"{header.colour_type}); a JunoCam raw PNG is 8-bit greyscale",
            path=p,
        )
    if header.width != LINE_SAMPLES:
        raise FormatError(
            f"width is {header.width} samples; a JunoCam raw strip is {LINE_SAMPLES} wide",
            path=p,
        )
    if header.height % FRAMELET_LINES and header.height % (FRAMELET_LINES // 2):
        raise FormatError(
            f"height {header.height} lines is not a multiple of the {FRAMELET_LINES}-line framelet",
            path=p,
        )


def _check_png_chunks(p: Path, header: PngHeader) -> None:
    """Walk every chunk: lengths inside the file, CRCs right, an IEND, whole rows of data.

    Pillow does not check the CRC of image data nor the presence of IEND, and it
    ignores image data beyond the declared height, so a corrupt or cut download
    could otherwise decode without complaint.
    """
    expected = header.height * (header.width + 1)  # 8-bit grey: a filter byte per row
    limit = expected + expected // 100 + (1 << 20)  # zlib never grows data by 1 %
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(min(size, limit) + 1)  # read(n) allocates n bytes up front
    except OSError as err:
        raise FormatError(f"cannot read: {err.strerror or err}", path=p) from None
    if len(data) > limit:
        raise FormatError(
            f"file is larger than {limit} bytes, more than a {header.width}x{header.height} "
            "8-bit image can hold",
            path=p,
        )
    pos, idat = 8, bytearray()
    while True:
        if pos + 12 > len(data):
            raise _corrupt_png(p, f"the file ends at byte {len(data)}, before an IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        name = kind.decode("latin-1")
        if end > len(data):
            raise _corrupt_png(
                p,
                f"chunk {name!r} at byte {pos} declares {length} bytes, "
                f"only {len(data) - pos - 12} remain",
            )
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) & 0xFFFFFFFF != crc:
            raise _corrupt_png(p, f"bad CRC in chunk {name!r} at byte {pos}")
        if kind == b"IDAT":
            idat += data[pos + 8 : end - 4]
        if kind == b"IEND":
            break
        pos = end
    if header.interlace == 0:
        try:
            size = len(zlib.decompressobj().decompress(bytes(idat), expected + 1))
        except zlib.error as err:
            raise _corrupt_png(p, f"image data: {err}") from None
        if size > expected:
            raise _corrupt_png(
                p, f"the image data holds more than the {header.height} rows the header declares"
            )
        if size < expected:
            raise _corrupt_png(
                p,
                f"the image data holds {size // (header.width + 1)} complete rows, "
                f"the header declares {header.height}",
            )


def _corrupt_png(p: Path, detail: str) -> FormatError:
    return FormatError(f"cannot decode PNG data (truncated or corrupt?): {detail}", path=p)


def _decode_png(p: Path, header: PngHeader) -> np.ndarray:
    """Decode the pixels (header already checked) and verify shape and dtype."""
    from PIL import Image

    _check_png_chunks(p, header)
    try:
        with Image.open(p) as im:
            im.load()
            pixels = np.asarray(im)
    except Exception as err:  # Pillow raises OSError, SyntaxError, zlib.error, ...
        raise FormatError(
            f"cannot decode PNG data (truncated or corrupt?): {err}", path=p
        ) from None
    if pixels.shape != (header.height, header.width) or pixels.dtype != np.uint8:
        raise FormatError(
            f"decoded pixels have shape {pixels.shape} and type {pixels.dtype}, expected "
            f"({header.height}, {header.width}) uint8",
            path=p,
        )
    return pixels


def _apply_overrides(
    meta: FrameMeta, filters: Sequence[Filter | str] | None, delay: float | None, p: Path
) -> FrameMeta:
    """Fill values missing from the metadata with user-supplied ones; refuse contradictions."""
    if filters is not None:
        given = tuple(Filter.parse(f) for f in filters)
        if given != meta.filters:
            have = ",".join(f.value for f in meta.filters)
            want = ",".join(f.value for f in given)
            raise MetadataError(
                f"--filters {want} contradicts the metadata's FILTER_NAME {have}", path=p
            )
    if delay is None:
        return meta
    if meta.interframe_delay is None:
        return dataclasses.replace(
            meta, interframe_delay=float(delay), assumed=(*meta.assumed, "interframe_delay")
        )
    if abs(meta.interframe_delay - delay) > 1e-9:
        raise MetadataError(
            f"--interframe-delay {delay} s contradicts the metadata's INTERFRAME_DELAY "
            f"{meta.interframe_delay} s",
            path=p,
        )
    return meta


def _check_consistency(pixels: np.ndarray, meta: FrameMeta, p: Path) -> None:
    """Metadata versus pixels: LINES, LINE_SAMPLES and the framelet block size."""
    lines, samples = pixels.shape
    where = f" in {meta.source}" if meta.source else ""
    if meta.lines != lines:
        raise MetadataError(
            f"LINES = {meta.lines}{where} contradicts the image height of {lines} lines",
            path=p,
        )
    if meta.line_samples != samples:
        raise MetadataError(
            f"LINE_SAMPLES = {meta.line_samples}{where} contradicts the image width of "
            f"{samples} samples",
            path=p,
        )
    if samples != LINE_SAMPLES:
        raise FormatError(
            f"width is {samples} samples; a JunoCam raw strip is {LINE_SAMPLES} wide", path=p
        )
    block = meta.framelet_lines * meta.n_filters
    if lines % block:
        names = "+".join(f.value for f in meta.filters)
        raise FormatError(
            f"height {lines} lines is not a multiple of {block} ({meta.n_filters} filters "
            f"{names} x {meta.framelet_lines} lines per framelet)",
            path=p,
        )


# ---------------------------------------------------------------------------
# PDS3


def _label_for_img(img: Path) -> Path:
    """The label of an ``.IMG``: itself if attached, else a sibling ``.LBL``."""
    if _has_attached_label(img):
        return img
    for suffix in (".LBL", ".lbl", ".Lbl"):
        candidate = img.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise MissingMetadataError(
        f"no attached PDS3 label and no {img.stem}.LBL beside the image", path=img
    )


def _read_pds3(image_hint: Path, label_path: Path, max_pixels: int) -> RawFrame:
    """Read a PDS3 product from its label (detached or attached)."""
    text = _read_label_text(label_path)
    label = _loads_pvl(text, os.fspath(label_path))
    meta = from_pds3_label(label, source=label_path)
    img_path, offset = _image_pointer(label, label_path)
    if img_path == label_path and offset < len(text):
        raise MetadataError(
            f"^IMAGE points at byte {offset + 1}, inside the attached label, which ends at "
            f"byte {len(text)} (wrong RECORD_BYTES or ^IMAGE record?)",
            path=label_path,
        )
    pixels = _read_img(img_path, offset, label, meta, label_path, max_pixels)
    return RawFrame(pixels=pixels, meta=meta, path=os.fspath(img_path))


def _image_pointer(label: Mapping[str, Any], label_path: Path) -> tuple[Path, int]:
    """Resolve ``^IMAGE`` to (image file, byte offset).

    Accepted forms: ``"FILE"``, a record number, ``n <BYTES>``, and ``("FILE", n)`` or
    ``("FILE", n <BYTES>)``; records and bytes count from 1, so offsets are never
    negative. A file name must name a file beside the label (no folders).
    """
    if "^IMAGE" not in label:
        raise MetadataError("the label has no ^IMAGE pointer", path=label_path)
    pointer = label["^IMAGE"]
    file_name: str | None = None
    location: Any = 1
    if isinstance(pointer, str):
        file_name = pointer
    elif _is_quantity(pointer) or isinstance(pointer, int | float):
        location = pointer
    elif isinstance(pointer, Sequence) and len(pointer) == 2 and isinstance(pointer[0], str):
        file_name, location = pointer[0], pointer[1]
    else:
        raise MetadataError(
            f"^IMAGE = {pointer!r} is not a file name, a record number or (file, record)",
            path=label_path,
        )
    if file_name is not None and (
        file_name.strip() in ("", ".", "..") or os.path.basename(file_name) != file_name
    ):
        raise MetadataError(
            f"^IMAGE names {file_name!r}; it must be a file name beside the label, without folders",
            path=label_path,
        )
    if _is_quantity(location):
        if str(location.units).upper() != "BYTES":
            raise MetadataError(f"^IMAGE offset unit {location.units!r} unknown", path=label_path)
        offset = _positive(location.value, "^IMAGE byte offset", label_path) - 1
    else:
        record = _positive(location, "^IMAGE record", label_path)
        record_bytes = _int_field(label, "RECORD_BYTES", label_path, default=None)
        if record_bytes is None:
            raise MetadataError("RECORD_BYTES is missing for the ^IMAGE record", path=label_path)
        if record_bytes <= 0:
            raise MetadataError(f"RECORD_BYTES = {record_bytes} must be positive", path=label_path)
        offset = (record - 1) * record_bytes
    if file_name is None:
        return label_path, offset
    return _find_sibling(label_path.parent, file_name, label_path), offset


def _is_quantity(value: Any) -> bool:
    return hasattr(value, "units") and hasattr(value, "value")


def _positive(value: Any, what: str, label_path: Path) -> int:
    """A whole number >= 1 (records and bytes of PDS pointers count from 1)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MetadataError(f"{what} must be a whole number from 1, got {value!r}", path=label_path)
    return value


def _find_sibling(folder: Path, name: str, label_path: Path) -> Path:
    exact = folder / name
    if exact.is_file():
        return exact
    if folder.is_dir():
        for candidate in folder.iterdir():
            if candidate.name.lower() == name.lower() and candidate.is_file():
                return candidate
    raise FormatError(
        f"the image file {name} named by ^IMAGE is missing (expected at {exact})",
        path=label_path,
    )


def _int_field(
    obj: Mapping[str, Any], key: str, path: Path, default: int | None = None
) -> int | None:
    if key not in obj:
        return default
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise MetadataError(f"{key}: expected an integer, got {value!r}", path=path)
    return value


def _sample_dtype(image: Mapping[str, Any], bits: int, label_path: Path) -> np.dtype:
    sample_type = str(image.get("SAMPLE_TYPE", "UNSIGNED_INTEGER")).upper()
    if "INTEGER" not in sample_type or bits not in (8, 16):
        raise MetadataError(f"SAMPLE_TYPE {sample_type} is not supported", path=label_path)
    little = sample_type.startswith(("LSB", "PC", "VAX"))
    signed = "UNSIGNED" not in sample_type
    kind = "i" if signed else "u"
    return np.dtype(f"{'<' if little else '>'}{kind}{bits // 8}")


def _read_img(
    img_path: Path,
    offset: int,
    label: Mapping[str, Any],
    meta: FrameMeta,
    label_path: Path,
    max_pixels: int,
) -> np.ndarray:
    """Read the IMAGE object's samples (size checked before reading)."""
    image = label["IMAGE"]
    lines, samples = meta.lines, meta.line_samples
    if lines * samples > max_pixels:
        raise SizeLimitError(
            f"label declares {samples}x{lines} = {lines * samples} pixels, more than the "
            f"limit of {max_pixels} (raise it with --max-pixels); refused before reading",
            path=label_path,
        )
    bits = _int_field(image, "SAMPLE_BITS", label_path, default=8) or 8
    dtype = _sample_dtype(image, bits, label_path)
    prefix = _int_field(image, "LINE_PREFIX_BYTES", label_path, default=0) or 0
    suffix = _int_field(image, "LINE_SUFFIX_BYTES", label_path, default=0) or 0
    if prefix < 0 or suffix < 0:
        raise MetadataError(
            f"LINE_PREFIX_BYTES = {prefix} and LINE_SUFFIX_BYTES = {suffix} must not be negative",
            path=label_path,
        )
    row_bytes = prefix + samples * dtype.itemsize + suffix
    need = lines * row_bytes
    try:
        with open(img_path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if offset + need > size:  # checked before reading: no allocation for a lie
                raise FormatError(
                    f"truncated image: {max(size - offset, 0)} bytes from offset {offset}, "
                    f"the label needs {need} (^IMAGE or the record sizes point past the end "
                    f"of the {size}-byte file?)",
                    path=img_path,
                )
            fh.seek(offset)
            raw = fh.read(need)
    except OSError as err:
        raise FormatError(f"cannot read: {err.strerror or err}", path=img_path) from None
    if len(raw) < need:
        raise FormatError(
            f"truncated image: {len(raw)} bytes from offset {offset}, the label needs {need}",
            path=img_path,
        )
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(lines, row_bytes)
    body = np.ascontiguousarray(rows[:, prefix : prefix + samples * dtype.itemsize])
    pixels = body.view(dtype).reshape(lines, samples)
    native = np.uint8 if bits == 8 else np.uint16
    if dtype.kind == "i":
        pixels = np.clip(pixels, 0, None)
    return pixels.astype(native, copy=False)
