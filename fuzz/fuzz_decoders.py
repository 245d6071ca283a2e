"""Coverage-guided fuzz target (atheris / libFuzzer) for the PNG, PDS3 and JSON decoders.

The first input byte picks the decoder; the rest is the file's content:

- ``0``: a raw PNG (with valid metadata JSON beside it), read by ``read_frame``;
- ``1``: a website metadata JSON beside a valid PNG, read by ``read_frame``;
- ``2``: a PDS3 product with an attached label (``.IMG``), read by ``read_frame``;
- ``3``: a detached PDS3 label (``.LBL``) beside a zero-filled ``.IMG``.

Only :class:`junocam.errors.JunoCamError` may come out; any other exception is a crash,
and libFuzzer saves the input as ``crash-<sha1>`` (turn it into a regression test in
``tests/adversarial/test_atheris.py``).

Run it longer on demand, for example for ten minutes with a seed corpus::

    python fuzz/fuzz_decoders.py --make-seeds fuzz/corpus
    python fuzz/fuzz_decoders.py fuzz/corpus -max_total_time=600 -rss_limit_mb=2048 -timeout=10
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["junocam"]):
    from junocam.decode import read_frame
    from junocam.errors import JunoCamError

import numpy as np

from junocam.output import encode_png

PID = "JNCE_2022186_99C00001_V01"
KINDS = 4
_DIR = Path(tempfile.mkdtemp(prefix="junocam-fuzz-"))


def _valid_png(lines: int = 128) -> bytes:
    rng = np.random.default_rng(0)
    return encode_png(rng.integers(0, 255, (lines, 1648)).astype(np.uint8), compress_level=1)


def _valid_meta(lines: int = 128) -> bytes:
    data = {
        "PRODUCT_ID": PID,
        "FILTER_NAME": ["RED"],
        "LINES": lines,
        "INTERFRAME_DELAY": "0.372 <s>",
        "START_TIME": "2022-07-05T12:13:37.407",
    }
    return json.dumps(data).encode()


def _label(pointer: str) -> bytes:
    return (
        "PDS_VERSION_ID = PDS3\nRECORD_BYTES = 1648\n"
        f"^IMAGE = {pointer}\nPRODUCT_ID = \"P\"\nFILTER_NAME = ('RED')\n"
        "OBJECT = IMAGE\n  LINES = 128\n  LINE_SAMPLES = 1648\n  SAMPLE_BITS = 8\n"
        "END_OBJECT = IMAGE\nEND\n"
    ).encode()


PNG, META = _valid_png(), _valid_meta()


def one_input(data: bytes) -> None:
    """Decode ``data`` with the decoder its first byte picks; only project errors pass."""
    if not data:
        return
    kind, body = data[0] % KINDS, data[1:]
    png, js = _DIR / f"{PID}-raw.png", _DIR / f"{PID}-raw.json"
    if kind == 0:
        png.write_bytes(body)
        js.write_bytes(META)
        target = png
    elif kind == 1:
        png.write_bytes(PNG)
        js.write_bytes(body)
        target = png
    elif kind == 2:
        target = _DIR / "A.IMG"
        target.write_bytes(body)
    else:
        (_DIR / "D.IMG").write_bytes(bytes(128 * 1648))
        target = _DIR / "D.LBL"
        target.write_bytes(body)
    try:
        read_frame(target, max_pixels=4_000_000)
    except JunoCamError:
        pass


def make_seeds(folder: Path) -> None:
    """Write one valid input per decoder into ``folder`` (a libFuzzer corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    attached = _label("3").ljust(2 * 1648, b" ") + bytes(128 * 1648)
    seeds = [b"\x00" + PNG, b"\x01" + META, b"\x02" + attached, b"\x03" + _label('"D.IMG"')]
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i}").write_bytes(seed)


def main(argv: list[str]) -> None:
    """``--make-seeds DIR`` writes a corpus; anything else goes to libFuzzer."""
    if len(argv) == 3 and argv[1] == "--make-seeds":
        make_seeds(Path(argv[2]))
        return
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
