"""``junocam fetch`` from a local copy of the mission website: selection, layout, faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO_ROOT
from fetch_server import (  # noqa: F401 - fixtures
    WebImage,
    add_website,
    fetch_env_fixture,
    server_fixture,
    zip_bytes,
)

from junocam.cli import main
from junocam.decode import read_frame
from junocam.fetch.website import parse_image_page, parse_listing

SAMPLES = REPO_ROOT / "sample_frames"
IDS = ["JNCS_2026329_00C00001_V01", "JNCS_2026329_00M00002_V01", "JNCS_2026329_00A00003_V01"]


def sample_images() -> list[WebImage]:
    return [
        WebImage(90001 + k, pid, SAMPLES / f"{pid}-raw.png", SAMPLES / f"{pid}-raw.json", 0)
        for k, pid in enumerate(IDS)
    ]


def fetch(*args: str):
    return CliRunner().invoke(main, ["fetch", *args])


@pytest.fixture
def site(server):
    add_website(server, sample_images(), per_page=2)
    return server


def test_perijove_fetch_gives_frames_that_process_reads(site, fetch_env, tmp_path):
    raw = tmp_path / "raw"
    res = fetch("--perijove", "0", "-o", str(raw), "--server", site.url)
    assert res.exit_code == 0, res.output
    assert "3 fetched, 0 already there, 0 failed" in res.output
    for k, pid in enumerate(IDS):
        folder = raw / pid
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{pid}-raw.png", f"{90001 + k}-Metadata.json", f"{pid}.fetch.json"]
        )
        frame = read_frame(folder / f"{pid}-raw.png")
        assert frame.meta.product_id == pid and not frame.meta.assumed
        rec = json.loads((folder / f"{pid}.fetch.json").read_text())
        assert rec["image_id"] == 90001 + k and rec["perijove"] == 0
        assert rec["page"] == f"{site.url}/junocam/processing?id={90001 + k}"
        assert [d["kind"] for d in rec["downloads"]] == ["ImageSet", "DataSet"]
        png = next(f for f in rec["files"] if f["name"].endswith(".png"))
        assert png["size"] == (SAMPLES / f"{pid}-raw.png").stat().st_size
    # the listing was walked page by page until a page added nothing
    assert len(site.requested("PERIJOVE+0")) == 3
    # a re-run finds every frame complete and downloads nothing again
    n_vault = len(site.requested("VaultDownload"))
    res = fetch("--perijove", "0", "-o", str(raw), "--server", site.url)
    assert res.exit_code == 0 and "0 fetched, 3 already there" in res.output
    assert len(site.requested("VaultDownload")) == n_vault


def test_by_product_id_and_image_id(site, fetch_env, tmp_path):
    res = fetch(IDS[2], "90002", "-o", str(tmp_path / "raw"), "--server", site.url)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(IDS[1:])
    # complete frames named by product id need no server at all
    n = len(site.log)
    res = fetch(IDS[2], "-o", str(tmp_path / "raw"), "--server", site.url)
    assert res.exit_code == 0 and "already there" in res.output and len(site.log) == n


def test_dates_filter(site, fetch_env, tmp_path):
    args = ["--perijove", "0", "-o", str(tmp_path / "raw"), "--server", site.url]
    res = fetch(*args, "--from", "2026-11-26")
    assert res.exit_code == 1 and "nothing matches the selection" in res.output
    res = fetch(*args, "--from", "2026-329", "--to", "2026-11-25")
    assert res.exit_code == 0 and "3 fetched" in res.output


def test_usage_errors(tmp_path):
    assert fetch("-o", str(tmp_path)).exit_code == 2
    res = fetch("NOT_AN_ID", "-o", str(tmp_path))
    assert res.exit_code == 2 and "neither a product id" in res.output
    assert fetch("123", "--source", "pds", "-o", str(tmp_path)).exit_code == 2
    assert fetch("--perijove", "1", "--from", "2022-01-02", "--to", "2022-01-01",
                 "-o", str(tmp_path)).exit_code == 2  # fmt: skip


def test_404_and_unknown_product_are_one_line_each(site, fetch_env, tmp_path):
    res = fetch("99999", "JNCS_2026329_00C00009_V01", "90001", "-o", str(tmp_path / "raw"),
                "--server", site.url)  # fmt: skip
    assert res.exit_code == 1
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {site.url}/junocam/processing?id=99999: HTTP 404 Not Found",
        "error: JNCS_2026329_00C00009_V01: not found in the website's listing of perijove 0",
    ]
    assert "Traceback" not in res.output and "1 fetched" in res.output


def test_cut_connection_then_the_same_command_resumes(site, fetch_env, tmp_path):
    img = sample_images()[0]
    route = site.routes[f"/Vault/VaultDownload?VaultID={img.imageset_vault}"]
    route.cut_after, route.cut_times = 50_000, 1
    args = [IDS[0], "-o", str(tmp_path / "raw"), "--server", site.url, "--retries", "0"]
    res = fetch(*args)
    assert res.exit_code == 1
    assert "50000 bytes are kept; re-run the same command to resume" in res.output
    assert "the same command again retries what failed" in res.output.splitlines()[-1]
    assert not (tmp_path / "raw" / IDS[0] / f"{IDS[0]}.fetch.json").exists()
    res = fetch(*args)
    assert res.exit_code == 0, res.output
    assert site.requested(f"VaultID={img.imageset_vault}")[-1][1] == "bytes=50000-"
    assert read_frame(tmp_path / "raw" / IDS[0] / f"{IDS[0]}-raw.png").meta.product_id == IDS[0]


def test_500_then_success_within_one_run(site, fetch_env, tmp_path):
    img = sample_images()[1]
    site.routes[f"/Vault/VaultDownload?VaultID={img.dataset_vault}"].fail_times = 1
    res = fetch(IDS[1], "-o", str(tmp_path / "raw"), "--server", site.url)
    assert res.exit_code == 0, res.output
    assert len(site.requested(f"VaultID={img.dataset_vault}")) == 2


def test_truncated_zip_then_the_same_command_downloads_it_again(site, fetch_env, tmp_path):
    img = sample_images()[0]
    key = f"/Vault/VaultDownload?VaultID={img.imageset_vault}"
    good = site.routes[key].body
    site.add(key, good[: len(good) // 2])  # the server itself has a truncated file
    args = [IDS[0], "-o", str(tmp_path / "raw"), "--server", site.url]
    res = fetch(*args)
    assert res.exit_code == 1
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: {site.url}{key}: the ImageSet download is not a valid zip")
    assert "re-run the same command to download it again" in line
    site.add(key, good)
    res = fetch(*args)
    assert res.exit_code == 0, res.output


def test_slow_server_times_out_with_one_line(site, fetch_env, tmp_path):
    site.routes["/junocam/processing?id=90001"].delay = 3.0
    args = ["90001", "-o", str(tmp_path / "raw"), "--server", site.url]
    res = fetch(*args, "--timeout", "0.2", "--retries", "0")
    assert res.exit_code == 1
    assert "no answer within 0.2 s" in res.output and "Traceback" not in res.output
    site.routes["/junocam/processing?id=90001"].delay = 0.0
    assert fetch(*args).exit_code == 0


def test_offline_uses_the_cache_and_names_what_is_missing(site, fetch_env, tmp_path):
    res = fetch("--perijove", "0", "-o", str(tmp_path / "a"), "--server", site.url, "--offline")
    assert res.exit_code == 1 and "not in the cache" in res.output
    assert "--offline" in res.output and site.log == []
    assert fetch("--perijove", "0", "-o", str(tmp_path / "a"), "--server", site.url).exit_code == 0
    n = len(site.log)
    res = fetch("--perijove", "0", "-o", str(tmp_path / "b"), "--server", site.url, "--offline")
    assert res.exit_code == 0 and "3 fetched" in res.output
    assert len(site.log) == n  # nothing asked of the server


def test_only_the_raw_png_is_kept(site, fetch_env, tmp_path):
    img = sample_images()[0]
    png = img.png.read_bytes()
    site.add(
        f"/Vault/VaultDownload?VaultID={img.imageset_vault}",
        zip_bytes({f"ImageSet/{IDS[0]}-raw.png": png, f"ImageSet/{IDS[0]}-mapprojected.png": png}),
    )
    assert fetch(IDS[0], "-o", str(tmp_path / "raw"), "--server", site.url).exit_code == 0
    assert not list((tmp_path / "raw").rglob("*mapprojected*"))
    rec = json.loads((tmp_path / "raw" / IDS[0] / f"{IDS[0]}.fetch.json").read_text())
    assert rec["downloads"][0]["members_not_kept"] == [f"ImageSet/{IDS[0]}-mapprojected.png"]


def test_page_parsers_are_tolerant():
    assert parse_listing("<a href='/junocam/processing?id=7&amp;x=1'>a</a><a href='/x?id=8'>") == [
        7
    ]
    page = (
        "<b>JNCE_2022186_43C00078_V01</b><A HREF='/Vault/VaultDownload?VaultID=5'>zip</A>"
        "<a title='DataSet' href='/Vault/VaultDownload?VaultID=6'><img></a>"
    )
    p = parse_image_page(page, 1)
    assert (p.imageset_vault, p.dataset_vault, p.perijove) == (5, 6, 43)


def test_perijove_43_then_batch_end_to_end(server, fetch_env, tmp_path, shared_junocam: Path):
    """Done criterion: fetch --perijove 43 from the local server, then batch the folder."""
    images = []
    for folder in sorted((shared_junocam / "raw").glob("JNCE_2022*_4[34]*_V01")):
        meta = next(folder.glob("*-Metadata.json"))
        image_id = int(meta.name.split("-")[0])
        pj = int(folder.name.split("_")[2][:2])
        images.append(WebImage(image_id, folder.name, next(folder.glob("*-raw.png")), meta, pj))
    add_website(server, images, per_page=2)
    raw, out = tmp_path / "raw", tmp_path / "out"
    res = fetch("--perijove", "43", "-o", str(raw), "--server", server.url)
    assert res.exit_code == 0, res.output
    got = sorted(p.name for p in raw.iterdir())
    assert got == [
        "JNCE_2022186_43C00078_V01",
        "JNCE_2022186_43C00080_V01",
        "JNCE_2022186_43M00081_V01",
    ]
    res = CliRunner().invoke(
        main,
        ["batch", str(raw), "-o", str(out), "--pipeline", "raw",
         "--set", "stitch.fit_spin=false", "--jobs", "2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    records = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["done"] * 3
    assert len(list(out.glob("*-raw.png"))) == 3
