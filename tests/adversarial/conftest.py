"""Builders for hostile inputs: PNG chunks with right or wrong CRCs, frames with JSON."""

from __future__ import annotations

import json
import signal
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from junocam.errors import JunoCamError
from junocam.output import encode_png

PID = "JNCE_2022186_99C00001_V01"
SIG = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    """One PNG chunk; ``crc`` overrides the correct CRC."""
    good = zlib.crc32(kind + data) & 0xFFFFFFFF
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", good if crc is None else crc)
    )


def ihdr(width: int, height: int, depth: int = 8, colour: int = 0, interlace: int = 0,
         comp: int = 0, filt: int = 0) -> bytes:  # fmt: skip
    """An IHDR chunk with these fields (CRC right)."""
    return chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, comp, filt, interlace)
    )


def png_bytes(
    width: int = 1648,
    height: int = 384,
    *,
    rows: int | None = None,
    depth: int = 8,
    colour: int = 0,
    interlace: int = 0,
    idat: bytes | None = None,
) -> bytes:
    """A PNG whose header says ``width x height`` and whose data holds ``rows`` rows."""
    rows = height if rows is None else rows
    raw = (b"\x00" + bytes(width)) * rows
    data = zlib.compress(raw, 1) if idat is None else idat
    return (
        SIG
        + ihdr(width, height, depth, colour, interlace)
        + chunk(b"IDAT", data)
        + chunk(b"IEND", b"")
    )


def strip(lines: int = 384) -> np.ndarray:
    """A valid uint8 raw strip with a little texture."""
    rng = np.random.default_rng(lines)
    return rng.integers(20, 200, size=(lines, 1648)).astype(np.uint8)


def meta_dict(lines: int = 384, **overrides: Any) -> dict[str, Any]:
    """Website metadata for ``PID``; a value of None removes the key."""
    data: dict[str, Any] = {
        "PRODUCT_ID": PID,
        "FILE_NAME": f"{PID}-raw.png",
        "FILTER_NAME": ["BLUE", "GREEN", "RED"],
        "LINES": lines,
        "LINE_SAMPLES": 1648,
        "SAMPLE_BIT_MODE_ID": "SQROOT",
        "INTERFRAME_DELAY": "0.372 <s>",
        "EXPOSURE_DURATION": "19.2 <ms>",
        "START_TIME": "2022-07-05T12:13:37.407",
        "STOP_TIME": "2022-07-05T12:13:41.871",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def frame_files(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """``frame_files(png=bytes|None, meta=dict|bytes|str|None)`` -> (png path, json path)."""

    def make(png: bytes | None = None, meta: Any = None) -> tuple[Path, Path]:
        p = tmp_path / f"{PID}-raw.png"
        j = tmp_path / f"{PID}-raw.json"
        p.write_bytes(encode_png(strip()) if png is None else png)
        if meta is None:
            meta = meta_dict()
        if isinstance(meta, bytes):
            j.write_bytes(meta)
        elif isinstance(meta, str):
            j.write_text(meta, encoding="utf-8")
        else:
            j.write_text(json.dumps(meta), encoding="utf-8")
        return p, j

    return make


def expect(err_type: type[JunoCamError], fn: Callable[[], Any], path: Path, *words: str) -> str:
    """Run ``fn``; it must raise exactly ``err_type`` (or a subclass) naming ``path`` and
    containing every word; returns the message."""
    with pytest.raises(err_type) as info:
        fn()
    text = str(info.value)
    assert str(path) in text, text
    for w in words:
        assert w.lower() in text.lower(), f"{w!r} not in {text!r}"
    return text


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail a test (TimeoutError) that runs longer than 20 s instead of hanging the suite."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError("the test ran longer than 20 s (a hang?)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 20.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
