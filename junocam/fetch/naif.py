"""SPICE kernels for given frames, chosen from NAIF's tree, and a meta-kernel for them.

``--server`` is the root of NAIF's tree (or a mirror of it): the folder holding
``generic_kernels/`` and ``JUNO/kernels/``. From there:

=========  ========================  ====================================================
kind       folder                    choice
=========  ========================  ====================================================
LSK        generic_kernels/lsk       the newest ``naifNNNN.tls``
PCK        generic_kernels/pck       the newest ``pckNNNNN.tpc``
FK         JUNO/kernels/fk           the newest ``juno_vNN.tf``
IK         JUNO/kernels/ik           the newest ``juno_junocam_vNN.ti``
SCLK       JUNO/kernels/sclk         the newest ``jno_sclkscet_NNNNN.tsc``
SPK        JUNO/kernels/spk          per frame, a reconstructed ``juno_rec_B_E_P.bsp``
                                     covering it, else a predicted
                                     ``spk_pre_B_E_P_*.bsp``; the latest made (P) wins
CK         JUNO/kernels/ck           per frame, the newest version of
                                     ``juno_sc_rec_B_E_vNN.bc`` covering it (optional)
=========  ========================  ====================================================

Coverage is read from the file names, as NAIF encodes it (``YYMMDD`` begin, end and
production dates): a file covers the days from its begin to its end date. A frame on
one of those boundary days is covered, but a file that has the frame strictly inside
its days is preferred. Only the chosen files are downloaded; they are linked (or
copied) from the cache into ``DIR`` in NAIF's layout, and ``DIR/<name>.tm`` lists them.

Examples
--------
>>> coverage("juno_rec_220701_220801_220810.bsp")
('spk', 'rec', datetime.date(2022, 7, 1), datetime.date(2022, 8, 1), '220810')
>>> coverage("spk_pre_220614_221109_220810_jm0450.bsp")[1:4]
('pre', datetime.date(2022, 6, 14), datetime.date(2022, 11, 9))
>>> coverage("juno_sc_rec_220703_220709_v01.bc")[:2]
('ck', 'rec')
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .._version import __version__
from ..decode import find_metadata, load_metadata
from ..errors import FormatError, KernelError, MissingMetadataError
from ..output import atomic_write
from .http import Downloader
from .listing import ListingEntry, directory_listing

__all__ = [
    "DEFAULT_SERVER",
    "FrameWindow",
    "frame_window",
    "coverage",
    "KernelChoice",
    "choose_kernels",
    "fetch_kernels",
    "write_meta_kernel",
]

#: NAIF's public tree.
DEFAULT_SERVER = "https://naif.jpl.nasa.gov/pub/naif"

#: (kind, folder, file-name pattern whose group 1 is the version number)
_SINGLE = (
    ("lsk", "generic_kernels/lsk", re.compile(r"^naif(\d{4})\.tls$", re.IGNORECASE)),
    ("pck", "generic_kernels/pck", re.compile(r"^pck(\d{5})\.tpc$", re.IGNORECASE)),
    ("fk", "JUNO/kernels/fk", re.compile(r"^juno_v(\d+)\.tf$", re.IGNORECASE)),
    ("ik", "JUNO/kernels/ik", re.compile(r"^juno_junocam_v(\d+)\.ti$", re.IGNORECASE)),
    ("sclk", "JUNO/kernels/sclk", re.compile(r"^jno_sclkscet_(\d+)\.tsc$", re.IGNORECASE)),
)
_SPK_DIR, _CK_DIR = "JUNO/kernels/spk", "JUNO/kernels/ck"
_REC_SPK = re.compile(r"^juno_rec_(\d{6})_(\d{6})_(\d{6})(?:_v\d+)?\.bsp$", re.IGNORECASE)
_PRE_SPK = re.compile(r"^spk_pre_(\d{6})_(\d{6})_(\d{6})(?:_\w+)?\.bsp$", re.IGNORECASE)
_REC_CK = re.compile(r"^juno_sc_rec_(\d{6})_(\d{6})_v(\d+)\.bc$", re.IGNORECASE)


def _yymmdd(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%y%m%d").date()
    except ValueError:
        return None


def coverage(name: str) -> tuple[str, str, date, date, str] | None:
    """(kind, rec|pre, first day, last day, production key) from a Juno SPK/CK name.

    The production key orders files of the same kind: the production date of an
    SPK, the version of a CK. None when the name does not follow NAIF's patterns.

    Examples
    --------
    >>> coverage("juno_sc_rec_220703_220709_v02.bc")[4]
    '02'
    >>> coverage("juno_struct_v04.bc") is None
    True
    """
    for kind, sub, pattern in (
        ("spk", "rec", _REC_SPK),
        ("spk", "pre", _PRE_SPK),
        ("ck", "rec", _REC_CK),
    ):
        m = pattern.match(name)
        if m:
            a, b = _yymmdd(m.group(1)), _yymmdd(m.group(2))
            if a is None or b is None or b < a:
                return None
            return kind, sub, a, b, m.group(3)
    return None


@dataclass(frozen=True)
class FrameWindow:
    """A frame's product id and the UTC interval its exposures span."""

    product_id: str
    start: datetime
    stop: datetime
    source: str = ""


def frame_window(path: str | os.PathLike[str]) -> FrameWindow:
    """Read a frame's metadata (not its pixels) and return its time interval.

    Accepts a raw PNG (its metadata JSON is found as ``junocam process`` finds it),
    a PDS3 ``.LBL``, or an ``.IMG`` (its label beside it, or attached).

    Raises
    ------
    FormatError
        If the file does not exist.
    MetadataError
        If no metadata is found or it has no START_TIME.

    Examples
    --------
    >>> import json, tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "JNCE_2022186_43C00078_V01-raw.png").write_bytes(b"")
    >>> _ = (d / "JNCE_2022186_43C00078_V01-raw.json").write_text(json.dumps({
    ...     "PRODUCT_ID": "JNCE_2022186_43C00078_V01", "FILTER_NAME": ["BLUE", "GREEN", "RED"],
    ...     "LINES": 4608, "START_TIME": "2022-07-05T12:13:37.407",
    ...     "STOP_TIME": "2022-07-05T12:13:41.871"}))
    >>> w = frame_window(d / "JNCE_2022186_43C00078_V01-raw.png")
    >>> w.product_id, w.start.isoformat(), w.stop.isoformat()  # doctest: +NORMALIZE_WHITESPACE
    ('JNCE_2022186_43C00078_V01', '2022-07-05T12:13:37.407000+00:00',
     '2022-07-05T12:13:41.871000+00:00')
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such file", path=p)
    suffix = p.suffix.lower()
    meta_path: Path | None
    if suffix == ".lbl":
        meta_path = p
    elif suffix == ".img":
        lbl = [q for q in (p.with_suffix(".LBL"), p.with_suffix(".lbl")) if q.is_file()]
        meta_path = lbl[0] if lbl else p
    else:
        meta_path = find_metadata(p)
    if meta_path is None:
        raise MissingMetadataError(
            "no metadata JSON found beside the image; its time is needed to choose kernels",
            path=p,
        )
    meta = load_metadata(meta_path)
    if meta.start_time is None:
        raise MissingMetadataError("the metadata has no START_TIME", path=meta_path)
    stop = meta.stop_time
    if stop is None or stop < meta.start_time:
        span = (meta.interframe_delay or 0.4) * max(meta.n_exposures, 1) + 1.0
        stop = meta.start_time + timedelta(seconds=span)
    return FrameWindow(meta.product_id, meta.start_time, stop, str(p))


@dataclass
class KernelChoice:
    """The kernels chosen for some frames: ``files`` maps a path relative to the
    server root (NAIF's layout) to its listed size (None when not exact)."""

    files: dict[str, int | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, folder: str, entry: ListingEntry) -> None:
        self.files.setdefault(f"{folder}/{entry.name}", entry.size)


def _covers(first: date, last: date, w: FrameWindow) -> bool:
    return first <= w.start.date() and w.stop.date() <= last


def _strictly(first: date, last: date, w: FrameWindow) -> bool:
    return first < w.start.date() and w.stop.date() < last


def choose_kernels(
    listings: dict[str, list[ListingEntry]], windows: Sequence[FrameWindow]
) -> KernelChoice:
    """Choose the kernels for ``windows`` from the folder listings (see the module table).

    Parameters
    ----------
    listings : dict
        Folder (relative to the server root) -> its entries.
    windows : sequence of FrameWindow

    Raises
    ------
    KernelError
        If a needed kind (LSK, PCK, FK, IK, SCLK) is missing, or no SPK covers a frame.
        A frame without a covering CK is only noted: the CK is optional.

    Examples
    --------
    >>> E = lambda n: ListingEntry(n, False)
    >>> lst = {"generic_kernels/lsk": [E("naif0011.tls"), E("naif0012.tls")],
    ...        "generic_kernels/pck": [E("pck00010.tpc")], "JUNO/kernels/fk": [E("juno_v12.tf")],
    ...        "JUNO/kernels/ik": [E("juno_junocam_v03.ti")],
    ...        "JUNO/kernels/sclk": [E("jno_sclkscet_00090.tsc")],
    ...        "JUNO/kernels/spk": [E("juno_rec_220101_220301_220310.bsp"),
    ...                             E("spk_pre_220614_221109_220810_jm0450.bsp")],
    ...        "JUNO/kernels/ck": []}
    >>> t = datetime(2022, 7, 5, 12, tzinfo=UTC)
    >>> w = FrameWindow("X", t, t + timedelta(seconds=5))
    >>> sorted(choose_kernels(lst, [w]).files)  # doctest: +NORMALIZE_WHITESPACE
    ['JUNO/kernels/fk/juno_v12.tf', 'JUNO/kernels/ik/juno_junocam_v03.ti',
     'JUNO/kernels/sclk/jno_sclkscet_00090.tsc',
     'JUNO/kernels/spk/spk_pre_220614_221109_220810_jm0450.bsp',
     'generic_kernels/lsk/naif0012.tls', 'generic_kernels/pck/pck00010.tpc']
    """
    choice = KernelChoice()
    for kind, folder, pattern in _SINGLE:
        best: tuple[int, ListingEntry] | None = None
        for e in listings.get(folder, []):
            m = pattern.match(e.name)
            if m and not e.is_dir and (best is None or int(m.group(1)) > best[0]):
                best = (int(m.group(1)), e)
        if best is None:
            raise KernelError(f"no {kind.upper()} ({pattern.pattern}) in the listing", path=folder)
        choice.add(folder, best[1])
    for w in windows:
        spk = _best_covering(listings.get(_SPK_DIR, []), "spk", w)
        if spk is None:
            raise KernelError(
                f"no SPK in {_SPK_DIR} covers {w.product_id} "
                f"({w.start.isoformat(timespec='seconds')}): neither a reconstructed "
                "juno_rec_*.bsp nor a predicted spk_pre_*.bsp names its day",
                path=_SPK_DIR,
            )
        choice.add(_SPK_DIR, spk)
        ck = _best_covering(listings.get(_CK_DIR, []), "ck", w)
        if ck is None:
            choice.notes.append(
                f"no CK in {_CK_DIR} covers {w.product_id}: no camera attitude from SPICE "
                "(junocam map fits it to the limb instead)"
            )
        else:
            choice.add(_CK_DIR, ck)
    return choice


def _best_covering(entries: list[ListingEntry], kind: str, w: FrameWindow) -> ListingEntry | None:
    best: tuple[tuple[int, int, str, str], ListingEntry] | None = None
    for e in entries:
        cov = coverage(e.name)
        if e.is_dir or cov is None or cov[0] != kind or not _covers(cov[2], cov[3], w):
            continue
        key = (int(cov[1] == "rec"), int(_strictly(cov[2], cov[3], w)), cov[4], e.name)
        if best is None or key > best[0]:
            best = (key, e)
    return best[1] if best else None


def _folders() -> list[str]:
    return [folder for _, folder, _ in _SINGLE] + [_SPK_DIR, _CK_DIR]


def _place(src: Path, dest: Path) -> None:
    """Put the cached file at ``dest``: a hard link when possible, else a copy."""
    if dest.is_file() and dest.stat().st_size == src.stat().st_size:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
        os.replace(tmp, dest)
    except OSError:
        tmp.unlink(missing_ok=True)
        with open(src, "rb") as fh:
            atomic_write(dest, lambda out: shutil.copyfileobj(fh, out, 1 << 20))


def _spice_strings(text: str, width: int = 78) -> list[str]:
    """A SPICE string value as quoted pieces of at most ``width`` characters, each
    but the last ending with the ``+`` continuation mark (SPICE strings stop at 80)."""
    if "'" in text:
        raise KernelError("a path with a quote cannot go into a meta-kernel", path=text)
    pieces = [text[i : i + width - 3] for i in range(0, len(text), width - 3)] or [""]
    return [f"'{p}+'" for p in pieces[:-1]] + [f"'{pieces[-1]}'"]


def write_meta_kernel(
    out_dir: str | os.PathLike[str],
    files: Sequence[str],
    name: str,
    comment: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/name`` listing ``files`` (paths relative to ``out_dir``).

    ``PATH_VALUES`` holds the absolute folder, split with ``+`` continuations when
    longer than a SPICE string allows, and ``KERNELS_TO_LOAD`` lists ``$K/...``.
    Moving the folder needs only ``PATH_VALUES`` changed.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> mk = write_meta_kernel(d, ["generic_kernels/lsk/naif0012.tls"], "x.tm")
    >>> "KERNELS_TO_LOAD = (" in mk.read_text(), mk.name
    (True, 'x.tm')
    """
    root = Path(out_dir).resolve()
    lines = ["KPL/MK", "", f"Meta-kernel written by junocam {__version__}.", ""]
    lines += [f"  {c}" for c in comment]
    lines += [
        "",
        "The kernels are in this folder, in NAIF's layout. If the folder moves, change",
        "PATH_VALUES to its new absolute path.",
        "",
        "\\begindata",
        "",
        "PATH_VALUES  = ( " + "\n                 ".join(_spice_strings(str(root))) + " )",
        "PATH_SYMBOLS = ( 'K' )",
        "",
        "KERNELS_TO_LOAD = (",
    ]
    for f in files:
        lines += ["    " + s for s in _spice_strings(f"$K/{f}")]
    lines += [")", "", "\\begintext", ""]
    text = "\n".join(lines).encode()
    path = root / name
    atomic_write(path, lambda fh: fh.write(text))
    return path


_ORDER = {".tls": 0, ".tpc": 1, ".tf": 2, ".ti": 3, ".tsc": 4, ".bsp": 5, ".bc": 6}


def fetch_kernels(
    dl: Downloader,
    server: str,
    frames: Sequence[str | os.PathLike[str] | FrameWindow],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
) -> tuple[Path, KernelChoice]:
    """Choose, download and lay out the kernels for ``frames``; write the meta-kernel.

    Parameters
    ----------
    dl : Downloader
    server : str
        The root of NAIF's tree or a mirror (holds ``generic_kernels/`` and ``JUNO/``).
    frames : sequence of path or FrameWindow
        Raw frames (PNG with metadata, PDS3 ``.LBL``/``.IMG``), or their windows.
    out_dir : path
        Where the kernels and the meta-kernel go (created if missing).
    name : str, optional
        The meta-kernel's file name (default ``juno_<first day>_<last day>.tm``).

    Returns
    -------
    (pathlib.Path, KernelChoice)
        The meta-kernel and what was chosen (with notes, e.g. no CK).

    Examples
    --------
    >>> import tempfile
    >>> from junocam.fetch.cache import Cache
    >>> fetch_kernels(Downloader(Cache(tempfile.mkdtemp())), "http://x", [], tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    junocam.errors.KernelError: no frames given: kernels are chosen by the frames' times
    """
    if not frames:
        raise KernelError("no frames given: kernels are chosen by the frames' times")
    windows = [f if isinstance(f, FrameWindow) else frame_window(f) for f in frames]
    base = server.rstrip("/")
    listings = {folder: directory_listing(dl.text(f"{base}/{folder}/")) for folder in _folders()}
    choice = choose_kernels(listings, windows)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    ordered = sorted(choice.files, key=lambda f: (_ORDER.get(Path(f).suffix.lower(), 9), f))
    for rel in ordered:
        cached = dl.get(f"{base}/{rel}", size=choice.files[rel], label=Path(rel).name)
        _place(cached, root / rel)
    first = min(w.start for w in windows).astimezone(UTC)
    last = max(w.stop for w in windows).astimezone(UTC)
    mk_name = name or f"juno_{first:%Y%m%d}_{last:%Y%m%d}.tm"
    comment = [
        f"For {len(windows)} frame(s) from {first:%Y-%m-%dT%H:%M:%S} to "
        f"{last:%Y-%m-%dT%H:%M:%S} UTC:"
    ]
    comment += [f"    {w.product_id}" for w in sorted(windows, key=lambda w: w.start)]
    comment += [f"Chosen from {base}/ by the file names' coverage."]
    comment += choice.notes
    path = write_meta_kernel(root, ordered, mk_name, comment)
    return path, choice
