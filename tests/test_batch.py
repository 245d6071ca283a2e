"""Batch runner: failures, resume, worker death, a killed run, Dask, the gallery.

Frames are small simulated ones (2 exposures, no oversampling) and the spin fit
is switched off, so a frame takes well under a second to process.
"""

from __future__ import annotations

import doctest
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

import junocam.batch
import junocam.batch.gallery
import junocam.batch.run
from junocam.batch import MANIFEST_NAME, append_record, discover, read_manifest
from junocam.batch.tasks import CRASH_ENV
from junocam.cli import main
from junocam.output import write_png
from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame

FAST = ["--pipeline", "raw", "--set", "stitch.fit_spin=false"]


@pytest.fixture(scope="session")
def sim_frames(tmp_path_factory) -> Path:
    """Four simulated frames (PNG + website JSON), made once per session."""
    d = tmp_path_factory.mktemp("sim")
    for i in range(4):
        spec = SimulationSpec(n_exposures=2, oversample=1, seed=i, product_id=f"JNCS_G{i}")
        sim = simulate_frame(JupiterScene(radius_deg=6.0, seed=i), spec)
        write_png(d / f"JNCS_G{i}-raw.png", sim.strip)
        (d / f"JNCS_G{i}-Metadata.json").write_text(metadata_json(sim.metadata))
    return d


def make_inputs(sim: Path, dst: Path, n_good: int = 3, bad: bool = True) -> Path:
    """``n_good`` good frames; with ``bad``, a truncated PNG and one without metadata."""
    dst.mkdir(parents=True, exist_ok=True)
    for i in range(n_good):
        for name in (f"JNCS_G{i}-raw.png", f"JNCS_G{i}-Metadata.json"):
            shutil.copy(sim / name, dst / name)
    if bad:
        data = (sim / "JNCS_G0-raw.png").read_bytes()
        (dst / "JNCS_BAD-raw.png").write_bytes(data[: len(data) // 2])
        meta = json.loads((sim / "JNCS_G0-Metadata.json").read_text())
        meta.update(PRODUCT_ID="JNCS_BAD", FILE_NAME="JNCS_BAD-raw.png")
        (dst / "JNCS_BAD-Metadata.json").write_text(json.dumps(meta))
        shutil.copy(sim / "JNCS_G1-raw.png", dst / "JNCS_NOMETA-raw.png")
    return dst


def run(*args: str | os.PathLike[str]):
    return CliRunner().invoke(main, [os.fspath(a) for a in args])


def by_name(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(Path(r["key"]).name, []).append(r)
    return out


def mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("JNCS_*")}


def assert_images_complete(out: Path) -> None:
    for p in out.glob("*.png"):
        with Image.open(p) as im:
            im.load()  # raises on a truncated file


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", [junocam.batch.run, junocam.batch.gallery])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_discover_folders_globs_and_exclusions(tmp_path):
    for name in ["a/X-raw.png", "a/X-raw.json", "a/.hidden/Y-raw.png", "b/P.LBL", "b/P.IMG"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "a" / "out").mkdir()
    (tmp_path / "a" / "out" / "X-raw.png").write_bytes(b"")
    found = discover(
        [tmp_path / "a", str(tmp_path / "b" / "*"), tmp_path / "a" / "X-raw.png"],
        exclude=tmp_path / "a" / "out",
    )
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/X-raw.png", "b/P.LBL"]
    assert discover([str(tmp_path / "nothing*.png")]) == [tmp_path / "nothing*.png"]


def test_manifest_reader_tolerates_a_cut_last_line(tmp_path):
    m = tmp_path / MANIFEST_NAME
    append_record(m, {"key": "a", "status": "done"})
    with open(m, "ab") as fh:
        fh.write(b'{"key": "b", "status": "do')  # a kill in the middle of a write
    assert [r["key"] for r in read_manifest(m)] == ["a"]
    append_record(m, {"key": "c", "status": "failed"})
    assert [r["key"] for r in read_manifest(m)] == ["a", "c"]


def test_batch_records_failures_then_resumes(sim_frames, tmp_path):
    raw = make_inputs(sim_frames, tmp_path / "raw")
    out = tmp_path / "out"
    res = run("batch", raw, "-o", out, "--jobs", "2", *FAST)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert f"error: {raw / 'JNCS_BAD-raw.png'}: cannot decode PNG data" in res.stderr
    recs = by_name(read_manifest(out / MANIFEST_NAME))
    assert sorted(recs) == [
        "JNCS_BAD-raw.png", "JNCS_G0-raw.png", "JNCS_G1-raw.png", "JNCS_G2-raw.png",
        "JNCS_NOMETA-raw.png",
    ]  # fmt: skip
    assert recs["JNCS_BAD-raw.png"][0]["status"] == "failed"
    assert "truncated or corrupt" in recs["JNCS_BAD-raw.png"][0]["error"]
    assert recs["JNCS_NOMETA-raw.png"][0]["status"] == "failed"
    assert "no metadata found" in recs["JNCS_NOMETA-raw.png"][0]["error"]
    good = recs["JNCS_G0-raw.png"][0]
    assert good["status"] == "done" and good["error"] is None
    assert good["outputs"] == ["JNCS_G0-raw.png", "JNCS_G0-raw.json"]
    assert all((out / o).is_file() for o in good["outputs"])
    assert [f["role"] for f in good["input"]["files"]] == ["image", "metadata"]
    assert all(len(f["sha256"]) == 64 for f in good["input"]["files"])
    assert good["recipe"] == "raw" and len(good["recipe_digest"]) == 16
    assert good["junocam_version"] == junocam.__version__
    assert good["fit"]["spin_rate_rpm"] == pytest.approx(2.0, abs=0.1)
    assert any(k.endswith(":stitch") for k in good["timings_s"])
    assert good["frame"]["product_id"] == "JNCS_G0" and good["frame"]["perijove"] == 0
    assert "failed           2" in res.stdout and "done             3" in res.stdout

    # Same command again: the done frames are skipped, the failed ones retried.
    before = mtimes(out)
    res = run("batch", raw, "-o", out, "--jobs", "2", *FAST)
    assert res.exit_code == 1
    assert "skipped          3" in res.stdout
    assert mtimes(out) == before
    recs = by_name(read_manifest(out / MANIFEST_NAME))
    assert len(recs["JNCS_G0-raw.png"]) == 1 and len(recs["JNCS_BAD-raw.png"]) == 2

    # Without the bad frames nothing is left to do: exit 0, no new record.
    (raw / "JNCS_BAD-raw.png").unlink()
    (raw / "JNCS_NOMETA-raw.png").unlink()
    n = len(read_manifest(out / MANIFEST_NAME))
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    assert len(read_manifest(out / MANIFEST_NAME)) == n and mtimes(out) == before

    # A changed input or recipe redoes only what it concerns; --force redoes all.
    shutil.copy(sim_frames / "JNCS_G3-raw.png", raw / "JNCS_G1-raw.png")
    res = run("batch", raw, "-o", out, "--jobs", "1", *FAST)
    assert res.exit_code == 0 and "skipped          2" in res.stdout
    res = run("batch", raw, "-o", out, "--jobs", "2", *FAST, "--set", "compose.percentile=99.0")
    assert res.exit_code == 0 and "done             3" in res.stdout
    res = run("batch", raw, "-o", out, "--jobs", "2", *FAST, "--force")
    assert res.exit_code == 0 and "done             3" in res.stdout
    assert not list(out.glob(".*.tmp"))


def test_worker_death_marks_its_frame_and_the_rest_go_on(sim_frames, tmp_path, monkeypatch):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=3, bad=False)
    out = tmp_path / "out"
    monkeypatch.setenv(CRASH_ENV, "JNCS_G1-raw")
    res = run("batch", raw, "-o", out, "--jobs", "2", *FAST)
    assert res.exit_code == 1, res.output
    recs = by_name(read_manifest(out / MANIFEST_NAME))
    assert {k: [r["status"] for r in v] for k, v in recs.items()} == {
        "JNCS_G0-raw.png": ["done"],
        "JNCS_G1-raw.png": ["failed"],
        "JNCS_G2-raw.png": ["done"],
    }
    assert "worker died" in recs["JNCS_G1-raw.png"][0]["error"]
    assert "worker died" in res.stderr
    monkeypatch.delenv(CRASH_ENV)
    res = run("batch", raw, "-o", out, "--jobs", "2", *FAST)
    assert res.exit_code == 0 and "skipped          2" in res.stdout


def test_batch_killed_mid_run_then_resumed(sim_frames, tmp_path):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=4, bad=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from junocam.cli import main; main()"]
    args = ["batch", str(raw), "-o", str(out), "--jobs", "1"]
    slow = ["--pipeline", "enhanced", "--set", "stitch.fit_spin=false"]
    proc = subprocess.Popen(
        cmd + args + slow,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            done = [r for r in read_manifest(out / MANIFEST_NAME) if r["status"] == "done"]
            if done:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers
    finally:
        proc.wait(timeout=30)
    first = {r["key"] for r in read_manifest(out / MANIFEST_NAME) if r["status"] == "done"}
    assert 1 <= len(first) < 4
    assert_images_complete(out)  # no half-written image under a final name
    # leftovers of a kill in the middle of a write: a temp file, a cut manifest line
    (out / ".JNCS_G3-enhanced.png.x1y2.tmp").write_bytes(b"\x89PNG partial")
    with open(out / MANIFEST_NAME, "ab") as fh:
        fh.write(b'{"key": "cut')

    res = run(*args, *slow)
    assert res.exit_code == 0, res.output
    recs = by_name(read_manifest(out / MANIFEST_NAME))
    assert all(v[-1]["status"] == "done" for v in recs.values()) and len(recs) == 4
    assert all(len(v) == 1 for k, v in recs.items() if str(raw / k) in first)
    assert not list(out.glob(".*.tmp"))
    assert len(list(out.glob("JNCS_G*-enhanced.png"))) == 4
    assert_images_complete(out)


def test_dask_local_cluster_same_manifest_and_resume(sim_frames, tmp_path):
    pytest.importorskip("distributed")
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=2, bad=False)
    data = (sim_frames / "JNCS_G0-raw.png").read_bytes()
    (raw / "JNCS_G1-raw.png").write_bytes(data[:5000])  # corrupt
    out = tmp_path / "out"
    res = run("batch", raw, "-o", out, "--scheduler", "dask", "--jobs", "1", *FAST)
    assert res.exit_code == 1, res.output
    recs = by_name(read_manifest(out / MANIFEST_NAME))
    assert recs["JNCS_G0-raw.png"][0]["status"] == "done"
    assert recs["JNCS_G0-raw.png"][0]["outputs"] == ["JNCS_G0-raw.png", "JNCS_G0-raw.json"]
    assert "cannot decode PNG data" in recs["JNCS_G1-raw.png"][0]["error"]
    shutil.copy(sim_frames / "JNCS_G1-raw.png", raw / "JNCS_G1-raw.png")
    res = run("batch", raw, "-o", out, "--scheduler", "dask", "--jobs", "1", *FAST)
    assert res.exit_code == 0 and "skipped          1" in res.stdout


def test_dask_scheduler_address_and_dead_worker(sim_frames, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import dask

    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=2, bad=False)
    out = tmp_path / "out"
    monkeypatch.setenv(CRASH_ENV, "JNCS_G1-raw")  # inherited by the worker process
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        res = run("batch", raw, "-o", out, "--scheduler", "dask",
                  "--address", cluster.scheduler_address, *FAST)  # fmt: skip
    assert res.exit_code == 1, res.output
    recs = by_name(read_manifest(out / MANIFEST_NAME))
    assert recs["JNCS_G0-raw.png"][0]["status"] == "done"
    assert "worker died" in recs["JNCS_G1-raw.png"][0]["error"]


def test_batch_usage_and_setup_errors(sim_frames, tmp_path, monkeypatch):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=1, bad=False)
    res = run("batch", raw, "-o", tmp_path / "o", "--address", "tcp://x:1")
    assert res.exit_code == 2 and "--address needs --scheduler dask" in res.output
    res = run("batch", raw, "-o", tmp_path / "o", "--pipeline", "nope")
    assert res.exit_code == 2
    res = run("batch", tmp_path / "empty*", "-o", tmp_path / "o2")
    assert res.exit_code == 1 and "error:" in res.stderr
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    res = run("batch", raw, "-o", tmp_path / "o3", "--scheduler", "dask", *FAST)
    assert res.exit_code == 1
    assert "pip install 'junocam[dask]'" in res.stderr and "Traceback" not in res.output


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.refs.append(a["href"])
        if tag == "img":
            self.refs.append(a["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_gallery_page_links_exist(sim_frames, tmp_path):
    from urllib.parse import unquote

    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=2)
    out = tmp_path / "out"
    res = run("batch", raw, "-o", out, "--jobs", "2", "--gallery", *FAST)
    assert res.exit_code == 1
    page = out / "index.html"
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    assert "JNCS_G0" in text and "JUPITER" in text and "PJ 0" in text
    assert "BLUE, GREEN, RED" in text and "raw" in text and "2026-11-25T12:00:00" in text
    assert "no metadata found" in text  # the failed frames are listed
    imgs = [r for r in parser.refs if r.startswith("thumbs/")]
    assert len(imgs) == 2
    for ref in parser.refs:
        assert not ref.startswith(("/", "http:", "https:", "file:")), ref
        assert (out / unquote(ref)).is_file(), ref
    for ref in imgs:
        with Image.open(out / ref) as im:
            assert max(im.size) <= 320
    res = run("gallery", out, "--thumb-size", "64", "--title", "PJ <0>")
    assert res.exit_code == 0, res.output
    assert "PJ &lt;0&gt;" in page.read_text(encoding="utf-8")
    with Image.open(out / imgs[0]) as im:
        assert max(im.size) == 64
    res = run("gallery", tmp_path / "raw")
    assert res.exit_code == 1 and "no manifest.jsonl" in res.stderr


def test_pool_workers_share_the_cores_among_their_native_threads(sim_frames, tmp_path, monkeypatch):
    """Two workers on N cores each get N // 2 BLAS threads unless the user chose."""
    from junocam.batch.runners import THREAD_VARIABLES, worker_threads

    for var in THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=2, bad=False)
    res = run("batch", raw, "-o", tmp_path / "out", "--jobs", "2", *FAST)
    assert res.exit_code == 0, res.output
    recs = read_manifest(tmp_path / "out" / MANIFEST_NAME)
    assert [r["worker"]["blas_threads"] for r in recs] == [str(worker_threads(2))] * 2
    assert not any(var in os.environ for var in THREAD_VARIABLES)  # restored

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # the user's choice is kept
    res = run("batch", raw, "-o", tmp_path / "out3", "--jobs", "2", *FAST)
    assert res.exit_code == 0, res.output
    recs = read_manifest(tmp_path / "out3" / MANIFEST_NAME)
    assert [r["worker"]["blas_threads"] for r in recs] == ["3", "3"]
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
