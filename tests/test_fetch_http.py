"""The download layer against a local server: cache, resume, checks, retries, faults."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fetch_server import fetch_env_fixture, server_fixture  # noqa: F401 - fixtures
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam.errors import FetchError
from junocam.fetch import Cache, Downloader, directory_listing
from junocam.fetch.http import MAX_CONNECTIONS_PER_HOST

BODY = bytes(range(256)) * 400  # 102 400 bytes


def _dl(cache: Path, **kw) -> Downloader:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("retries", 2)
    return Downloader(Cache(cache), **kw)


def test_download_is_cached_and_recorded(server, fetch_env):
    server.add("/f.bin", BODY)
    with _dl(fetch_env) as dl:
        p = dl.get(server.url + "/f.bin", size=len(BODY), sha256=hashlib.sha256(BODY).hexdigest())
        assert p.read_bytes() == BODY
        assert dl.get(server.url + "/f.bin") == p  # from the cache: no second request
        rec = dl.cache.record(server.url + "/f.bin")
    assert len(server.requested("/f.bin")) == 1
    assert rec["size"] == len(BODY) and rec["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert not list(p.parent.glob("*.part"))


def test_404_is_one_clear_error_without_retry(server, fetch_env):
    with _dl(fetch_env) as dl, pytest.raises(FetchError) as info:
        dl.get(server.url + "/missing.bin")
    assert str(info.value) == f"{server.url}/missing.bin: HTTP 404 Not Found"
    assert info.value.status == 404
    assert len(server.requested("/missing.bin")) == 1


def test_500_then_success_is_retried(server, fetch_env):
    server.add("/f.bin", BODY, fail_times=2)
    with _dl(fetch_env, retries=2) as dl:
        assert dl.get(server.url + "/f.bin").read_bytes() == BODY
    assert len(server.requested("/f.bin")) == 3


def test_500_until_retries_run_out_then_the_next_run_succeeds(server, fetch_env):
    route = server.add("/f.bin", BODY, fail_times=5)
    with _dl(fetch_env, retries=1) as dl, pytest.raises(FetchError) as info:
        dl.get(server.url + "/f.bin")
    msg = str(info.value)
    assert "gave up after 2 attempts (HTTP 500" in msg and "re-run the same command" in msg
    route.fail_times = 0
    with _dl(fetch_env, retries=1) as dl:
        assert dl.get(server.url + "/f.bin").read_bytes() == BODY


def test_cut_connection_resumes_with_range_in_the_same_run(server, fetch_env):
    server.add("/f.bin", BODY, cut_after=30_000, cut_times=1)
    with _dl(fetch_env) as dl:
        assert dl.get(server.url + "/f.bin", size=len(BODY)).read_bytes() == BODY
    assert [r for _, r in server.requested("/f.bin")] == [None, "bytes=30000-"]


def test_cut_connection_resumes_in_the_next_run(server, fetch_env):
    server.add("/f.bin", BODY, cut_after=40_000, cut_times=3)
    url = server.url + "/f.bin"
    with _dl(fetch_env, retries=0) as dl, pytest.raises(FetchError) as info:
        dl.get(url)
    assert "40000 bytes are kept; re-run the same command to resume" in str(info.value)
    part = Cache(fetch_env).path_for(url).with_name("f.bin.part")
    assert part.stat().st_size == 40_000
    assert Cache(fetch_env).lookup(url) is None  # nothing half-written in the cache
    with _dl(fetch_env, retries=0) as dl, pytest.raises(FetchError):
        dl.get(url)  # cut again, after 40 000 more bytes
    assert part.stat().st_size == 80_000
    with _dl(fetch_env, retries=0) as dl:
        assert dl.get(url).read_bytes() == BODY
    ranges = [r for _, r in server.requested("/f.bin")]
    assert ranges == [None, "bytes=40000-", "bytes=80000-"]
    assert not part.exists()


def test_changed_file_is_not_spliced_onto_an_old_part(server, fetch_env):
    url = server.url + "/f.bin"
    server.add("/f.bin", BODY, cut_after=10_000, cut_times=1)
    with _dl(fetch_env, retries=0) as dl, pytest.raises(FetchError):
        dl.get(url)
    new = b"x" * 50_000
    server.add("/f.bin", new)  # another ETag: If-Range makes the server send it all
    with _dl(fetch_env, retries=0) as dl:
        assert dl.get(url).read_bytes() == new


def test_wrong_size_is_refused_and_discarded(server, fetch_env):
    route = server.add("/f.bin", BODY[:-5])
    url = server.url + "/f.bin"
    with _dl(fetch_env) as dl, pytest.raises(FetchError) as info:
        dl.get(url, size=len(BODY))
    assert f"wrong size: the server announces {len(BODY) - 5} bytes, {len(BODY)} expected" in str(
        info.value
    )
    assert Cache(fetch_env).lookup(url) is None
    route.body = BODY
    server.add("/f.bin", BODY)
    with _dl(fetch_env) as dl:
        assert dl.get(url, size=len(BODY)).read_bytes() == BODY


def test_checksum_mismatch_is_refused_and_discarded(server, fetch_env):
    server.add("/f.bin", BODY)
    url = server.url + "/f.bin"
    with _dl(fetch_env) as dl, pytest.raises(FetchError, match="MD5 checksum mismatch"):
        dl.get(url, md5="0" * 32)
    cached = Cache(fetch_env).path_for(url)
    assert not cached.exists() and not cached.with_name("f.bin.part").exists()


def test_slow_server_times_out_then_resumes(server, fetch_env):
    route = server.add("/f.bin", BODY, delay=3.0)
    url = server.url + "/f.bin"
    with _dl(fetch_env, timeout=0.2, retries=1) as dl, pytest.raises(FetchError) as info:
        dl.get(url)
    assert "gave up after 2 attempts (no answer within 0.2 s)" in str(info.value)
    route.delay = 0.0
    with _dl(fetch_env, timeout=5.0) as dl:
        assert dl.get(url).read_bytes() == BODY


def test_offline_uses_the_cache_only(server, fetch_env):
    server.add("/f.bin", BODY)
    url = server.url + "/f.bin"
    with _dl(fetch_env, offline=True) as dl, pytest.raises(FetchError, match="not in the cache"):
        dl.get(url)
    with _dl(fetch_env) as dl:
        dl.get(url)
    n = len(server.log)
    with _dl(fetch_env, offline=True) as dl:
        assert dl.get(url).read_bytes() == BODY
        assert dl.text(url, refresh=True)  # pages too: offline never asks the server
    assert len(server.log) == n


def test_at_most_two_connections_per_host(server, fetch_env):
    from concurrent.futures import ThreadPoolExecutor

    for k in range(6):
        server.add(f"/f{k}.bin", BODY, delay=0.05)
    with _dl(fetch_env) as dl, ThreadPoolExecutor(max_workers=6) as pool:
        done = list(pool.map(lambda k: dl.get(f"{server.url}/f{k}.bin"), range(6)))
    assert all(p.read_bytes() == BODY for p in done)
    assert server.peak == MAX_CONNECTIONS_PER_HOST == 2  # used, never exceeded


def test_cache_dir_comes_from_the_environment(fetch_env):
    assert Cache().root == fetch_env
    assert os.environ["JUNOCAM_CACHE_DIR"] == str(fetch_env)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_directory_listing_never_fails(text):
    for e in directory_listing(text):
        assert e.name and "/" not in e.name


def test_cancel_keeps_the_partial_file_for_the_next_run(server, fetch_env):
    big = BODY * 20  # 2 MB: several blocks
    server.add("/big.bin", big)
    url = server.url + "/big.bin"

    class CancelOnFirstBlock:
        def start(self, label, total, done):
            return None

        def advance(self, task, n):
            dl.cancel()

        def stop(self, task):
            return None

    dl = _dl(fetch_env, progress=CancelOnFirstBlock())
    with dl, pytest.raises(FetchError, match="interrupted; re-run the same command to resume"):
        dl.get(url)
    part = Cache(fetch_env).path_for(url).with_name("big.bin.part")
    kept = part.stat().st_size
    assert 0 < kept < len(big)
    with _dl(fetch_env) as dl2:
        assert dl2.get(url).read_bytes() == big
    assert server.requested("/big.bin")[-1][1] == f"bytes={kept}-"
