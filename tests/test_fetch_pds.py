"""``junocam fetch --source pds`` from a local copy of the PDS archive layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO_ROOT
from fetch_server import add_tree, fetch_env_fixture, server_fixture  # noqa: F401 - fixtures

from junocam.cli import main
from junocam.decode import read_frame
from junocam.fetch.pds import parse_index, parse_label

SAMPLES = REPO_ROOT / "sample_frames"


def label(pid: str, lines: int, filters: str, start: str, img: bytes) -> str:
    return f"""PDS_VERSION_ID = PDS3
RECORD_TYPE = FIXED_LENGTH
RECORD_BYTES = 1648
FILE_RECORDS = {lines}
^IMAGE = "{pid}.IMG"
PRODUCT_ID = "{pid}"
START_TIME = {start}
INTERFRAME_DELAY = 0.372 <s>
EXPOSURE_DURATION = 9.6 <ms>
SAMPLE_BIT_MODE_ID = "SQROOT"
FILTER_NAME = ({filters})
OBJECT = IMAGE
  LINES = {lines}
  LINE_SAMPLES = 1648
  SAMPLE_TYPE = UNSIGNED_INTEGER
  SAMPLE_BITS = 8
  MD5_CHECKSUM = "{hashlib.md5(img).hexdigest()}"
END_OBJECT = IMAGE
END
"""


#: archive product id -> (sample frame, volume, start time)
PRODUCTS = {
    "JNCE_2026329_00C00001_V01": ("JNCS_2026329_00C00001_V01", "JNOJNC_0001", "2026-11-25T12:00"),
    "JNCE_2026330_00M00002_V01": ("JNCS_2026329_00M00002_V01", "JNOJNC_0002", "2026-11-26T12:00"),
    "JNCR_2026329_00C00001_V01": ("JNCS_2026329_00C00001_V01", "JNOJNC_0002", "2026-11-25T12:00"),
}  # fmt: skip


def build_archive(server) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    index: dict[str, list[str]] = {}
    for pid, (sample, vol, start) in PRODUCTS.items():
        frame = read_frame(SAMPLES / f"{sample}-raw.png")
        img = frame.pixels.tobytes()
        filters = ", ".join(f"'{f.value}'" for f in frame.meta.filters)
        kind = "EDR" if pid.startswith("JNCE") else "RDR"
        folder = f"DATA/{kind}/JUPITER/ORBIT_00"
        files[f"{vol}/{folder}/{pid}.LBL"] = label(
            pid, frame.pixels.shape[0], filters, start, img
        ).encode()
        files[f"{vol}/{folder}/{pid}.IMG"] = img
        index.setdefault(vol, []).append(
            f'"{vol}","{folder}/","{pid}.LBL","{pid}",{start}:00.000,"{kind}"'
        )
    for vol, rows in index.items():
        files[f"{vol}/INDEX/INDEX.TAB"] = ("\r\n".join(rows) + "\r\n").encode()
        files[f"{vol}/AAREADME.TXT"] = b"decoy"
    files["JNOSP_1000/INDEX/INDEX.TAB"] = b"another mission's volume"  # not a JunoCam volume
    add_tree(server, "/pds", files)
    return files


def fetch(*args: str):
    return CliRunner().invoke(main, ["fetch", "--source", "pds", *args])


def test_perijove_fetch_from_the_archive(server, fetch_env, tmp_path):
    build_archive(server)
    raw = tmp_path / "raw"
    res = fetch("--perijove", "0", "-o", str(raw), "--server", server.url + "/pds")
    assert res.exit_code == 0, res.output
    # EDR products of both volumes; the RDR is not a raw frame
    assert sorted(p.name for p in raw.iterdir()) == [
        "JNCE_2026329_00C00001_V01",
        "JNCE_2026330_00M00002_V01",
    ]
    for pid in ("JNCE_2026329_00C00001_V01", "JNCE_2026330_00M00002_V01"):
        sample = read_frame(SAMPLES / f"{PRODUCTS[pid][0]}-raw.png")
        frame = read_frame(raw / pid / f"{pid}.LBL")
        assert frame.meta.product_id == pid
        assert (frame.pixels == sample.pixels).all()
        rec = json.loads((raw / pid / f"{pid}.fetch.json").read_text())
        assert rec["volume"] == PRODUCTS[pid][1] and rec["label_md5"]
        assert rec["label_size"] == sample.pixels.size
    assert not server.requested("JNOSP_1000")
    res = fetch("--perijove", "0", "-o", str(raw), "--server", server.url + "/pds")
    assert res.exit_code == 0 and "0 fetched, 2 already there" in res.output


def test_by_product_id_and_dates(server, fetch_env, tmp_path):
    build_archive(server)
    url = server.url + "/pds"
    res = fetch("JNCR_2026329_00C00001_V01", "-o", str(tmp_path / "a"), "--server", url)
    assert res.exit_code == 0, res.output
    assert (
        tmp_path / "a" / "JNCR_2026329_00C00001_V01" / "JNCR_2026329_00C00001_V01.IMG"
    ).is_file()
    res = fetch(
        "--from", "2026-11-26", "--to", "2026-11-26", "-o", str(tmp_path / "b"), "--server", url
    )
    assert res.exit_code == 0, res.output
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["JNCE_2026330_00M00002_V01"]
    res = fetch("JNCE_2026331_00C00099_V01", "-o", str(tmp_path / "c"), "--server", url)
    assert res.exit_code == 1
    assert (
        "error: JNCE_2026331_00C00099_V01: not in the INDEX.TAB of any JunoCam volume" in res.output
    )


def test_wrong_size_then_the_same_command_succeeds(server, fetch_env, tmp_path):
    files = build_archive(server)
    pid = "JNCE_2026329_00C00001_V01"
    key = f"/pds/JNOJNC_0001/DATA/EDR/JUPITER/ORBIT_00/{pid}.IMG"
    good = files[key.removeprefix("/pds/")]
    server.add(key, good[:-1648])  # one line short of what the label says
    args = [pid, "-o", str(tmp_path / "raw"), "--server", server.url + "/pds"]
    res = fetch(*args)
    assert res.exit_code == 1
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert line == (
        f"error: {server.url}{key}: wrong size: the server announces {len(good) - 1648} bytes, "
        f"{len(good)} expected"
    )
    server.add(key, good)
    res = fetch(*args)
    assert res.exit_code == 0, res.output


def test_md5_from_a_real_label_is_checked(server, fetch_env, tmp_path, shared_junocam: Path):
    lbl = next((shared_junocam / "raw").glob("*_pds3_label_only/*.LBL"))
    pid = lbl.stem
    facts = parse_label(lbl.read_text(encoding="latin-1"))
    assert facts.size == 1648 * 3072 and facts.md5 == "8187bc46fcfbfe86d895d5745f644aae"
    folder = "JNOJNC_0001/DATA/EDR/JUPITER/ORBIT_04"
    add_tree(
        server,
        "/pds",
        {
            f"{folder}/{pid}.LBL": lbl.read_bytes(),
            f"{folder}/{pid}.IMG": bytes(facts.size),  # right size, not the real pixels
            "JNOJNC_0001/INDEX/INDEX.TAB": f'"{folder}/{pid}.LBL","{pid}"\n'.encode(),
        },
    )
    res = fetch(pid, "-o", str(tmp_path / "raw"), "--server", server.url + "/pds")
    assert res.exit_code == 1
    assert (
        "MD5 checksum mismatch" in res.output and "8187bc46fcfbfe86d895d5745f644aae" in res.output
    )
    assert not (tmp_path / "raw" / pid / f"{pid}.IMG").exists()


def test_index_parser_is_tolerant():
    text = (
        "PDS_VERSION_ID = PDS3\n"
        '"JNOJNC_0015","DATA/EDR/JUPITER/ORBIT_43/JNCE_2022186_43C00080_V01.LBL",'
        '"JNCE_2022186_43C00080_V01","2022-07-05T12:17:39.223","x"\n'
        "garbage line without a product\n"
        '"JNCR_2022186_43C00080_V01"  ,  "DATA/RDR/",  "JNCR_2022186_43C00080_V01.IMG"\n'
    )
    rows = parse_index(text)
    assert [(r.product_id, r.path) for r in rows] == [
        ("JNCE_2022186_43C00080_V01", "DATA/EDR/JUPITER/ORBIT_43/JNCE_2022186_43C00080_V01.LBL"),
        ("JNCR_2022186_43C00080_V01", "DATA/RDR/JNCR_2022186_43C00080_V01.IMG"),
    ]
    assert rows[0].start is not None and rows[1].start is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('^IMAGE = ("A.IMG", 1)\nRECORD_BYTES = 2\nFILE_RECORDS = 3', ("A.IMG", 6, None)),
        ("^IMAGE = 3\nRECORD_BYTES = 2\nFILE_RECORDS = 3", (None, None, None)),
        ("nothing", (None, None, None)),
    ],
)
def test_label_parser(text, expected):
    f = parse_label(text)
    assert (f.image_name, f.size, f.md5) == expected
