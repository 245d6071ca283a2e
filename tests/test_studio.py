"""The studio's server side: path safety, the recipe round trip, incremental previews, jobs."""

from __future__ import annotations

import json
import shutil
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from junocam.cli import main  # noqa: E402
from junocam.pipeline import Pipeline  # noqa: E402
from junocam.studio import (  # noqa: E402
    FrameCatalog,
    PathRefused,
    PreviewEngine,
    pipeline_from_page,
    recipe_to_page,
    recipe_toml,
    resolve_inside,
)
from junocam.studio.app import StudioConfig, create_app  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "sample_frames"
RGB_SAMPLE = "JNCS_2026329_00C00001_V01-raw"
FAST = {"name": "fast", "stages": [
    {"name": "stitch", "params": {"fit_spin": False}},
    {"name": "compose"},
    {"name": "stretch"},
    {"name": "gamma", "params": {"gamma": 1.2}},
]}  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """One sample RGB frame in its own folder (a copy: tests never write near inputs)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for suffix in (".png", ".json"):
        shutil.copy(SAMPLES / f"{RGB_SAMPLE}{suffix}", folder / f"{RGB_SAMPLE}{suffix}")
    return folder


@pytest.fixture
def client(served: Path, tmp_path: Path) -> TestClient:
    return TestClient(create_app(StudioConfig(inputs=(served,), out_dir=tmp_path / "out")))


def frame_of(client: TestClient) -> str:
    return client.get("/api/config").json()["frames"][0]["id"]


# -- path safety -------------------------------------------------------------------------
TRAVERSALS = [
    "../secret.txt",
    "..%2Fsecret.txt",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2fsecret.txt",
    "%252e%252e%252fsecret.txt",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "sub%2F..%2F..%2Fsecret.txt",
    "..",
    ".",
    "%2e%2e",
    "..%5Csecret.txt",
    "C:%5Cwindows%5Cwin.ini",
    "out%00.png",
    ".hidden",
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_output_names_cannot_leave_the_output_folder(client: TestClient, tmp_path, name):
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    r = client.get(f"/api/outputs/{name}")
    # "." and ".." are removed by the HTTP client itself: what is left is the listing
    listing = r.status_code == 200 and "files" in r.json()
    assert r.status_code in (403, 404) or listing, (name, r.status_code)
    assert b"TOP-SECRET-CONTENT" not in r.content


def test_a_symlink_out_of_the_output_folder_is_refused(client: TestClient, tmp_path):
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    out = tmp_path / "out"
    (out / "link.txt").symlink_to(tmp_path / "secret.txt")
    (out / "plain.txt").write_text("fine")
    assert client.get("/api/outputs/link.txt").status_code == 403
    assert client.get("/api/outputs/plain.txt").text == "fine"
    assert "link.txt" not in [f["name"] for f in client.get("/api/outputs").json()["files"]]
    with pytest.raises(PathRefused):
        resolve_inside(out, "link.txt")


def test_frames_are_served_by_opaque_id_only(client: TestClient, served: Path):
    cfg = client.get("/api/config").json()
    assert len(cfg["frames"]) == 1 and str(served) not in json.dumps(cfg["frames"])
    for fid in ("../../etc/passwd", str(served / f"{RGB_SAMPLE}.png"), "0" * 12):
        r = client.post("/api/preview", json={"frame": fid, "recipe": FAST})
        assert r.status_code == 404
    assert client.get("/api/frames/..%2F..%2Fetc%2Fpasswd/thumb").status_code == 404


def test_recipe_ids_are_not_paths(client: TestClient):
    assert client.get("/api/recipes/built-in:raw").status_code == 200
    for rid in ("/etc/passwd", "..%2F..%2Fpyproject.toml", "folder:../../x"):
        assert client.get(f"/api/recipes/{rid}").status_code == 404


def test_a_recipe_name_cannot_steer_output_files(client: TestClient, tmp_path):
    fid = frame_of(client)
    for name in ("../escape", "a/b", "/abs", "..", "x\\y"):
        r = client.post("/api/process", json={"frame": fid, "recipe": {**FAST, "name": name}})
        assert r.status_code == 400 and "recipe name" in r.json()["error"]
        r = client.post("/api/export", json={"recipe": FAST, "save": True, "filename": name})
        assert r.status_code in (400, 403)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out"]


def test_cross_site_requests_are_refused(client: TestClient):
    fid = frame_of(client)
    form = client.post("/api/preview", data={"frame": fid})  # a form post, not JSON
    assert form.status_code == 415
    evil = client.get("/api/config", headers={"Host": "evil.example"})
    assert evil.status_code == 400


# -- recipes -----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    gamma=st.floats(0.1, 10.0),
    high=st.floats(50.0, 100.0),
    linked=st.booleans(),
    gains=st.one_of(st.sampled_from(["none", "gill"]), st.tuples(*[st.floats(0.01, 20.0)] * 3)),
)
def test_exported_toml_reads_back_as_the_same_recipe(gamma, high, linked, gains):
    p = Pipeline(
        [
            "stitch",
            "compose",
            ("band_weights", {"weights": gains}),
            ("stretch", {"high": high, "linked": linked}),
            ("gamma", {"gamma": gamma}),
        ],
        name="look",
        description='quotes " and \\ and\nnewlines',
    )
    again = Pipeline.from_dict(tomllib.loads(recipe_toml(p)))
    assert again.digest() == p.digest() and again.description == p.description


def test_page_recipe_round_trip_and_disabled_stages():
    page = recipe_to_page(Pipeline.named("enhanced"))
    assert pipeline_from_page(page).digest() == Pipeline.named("enhanced").digest()
    for s in page["stages"]:
        if s["name"] in ("clahe", "unsharp"):
            s["enabled"] = False
    names = [s.name for s in pipeline_from_page(page).stages]
    assert "clahe" not in names and "unsharp" not in names and "saturation" in names


def test_invalid_recipes_are_refused_with_the_registry_message(client: TestClient):
    bad = {"name": "x", "stages": [{"name": "stitch"}, {"name": "compose"},
                                   {"name": "gamma", "params": {"gamma": 20.0}}]}  # fmt: skip
    r = client.post("/api/export", json={"recipe": bad})
    assert r.status_code == 400 and "above its maximum 10.0" in r.json()["error"]
    order = {"name": "x", "stages": [{"name": "compose"}, {"name": "stitch"}]}
    assert "cannot come after" in client.post("/api/export", json={"recipe": order}).json()["error"]
    r = client.post("/api/recipes/parse", json={"text": "name = [", "filename": "mine.toml"})
    assert r.status_code == 400 and "mine.toml" in r.json()["error"]


def test_recipes_in_served_folders_are_offered(served: Path, tmp_path: Path):
    (served / "my-look.toml").write_text(recipe_toml(Pipeline(["stitch", "compose"])))
    c = TestClient(create_app(StudioConfig(inputs=(served,), out_dir=tmp_path / "out")))
    mine = [r for r in c.get("/api/config").json()["recipes"] if r["origin"] == "folder"]
    assert [r["name"] for r in mine] == ["my-look"]
    assert [s["name"] for s in c.get(f"/api/recipes/{mine[0]['id']}").json()["stages"]] == [
        "stitch",
        "compose",
    ]


# -- previews ----------------------------------------------------------------------------
def test_a_change_reruns_only_the_stages_after_it_and_matches_a_fresh_run(served: Path):
    engine = PreviewEngine(FrameCatalog([served]))
    fid = engine.catalog.frames[0].id
    first = engine.preview(fid, pipeline_from_page(FAST), scale=0.5)
    assert first.rerun_from == 0
    changed = json.loads(json.dumps(FAST))
    changed["stages"][3]["params"]["gamma"] = 2.0
    p = pipeline_from_page(changed)
    second = engine.preview(fid, p, scale=0.5)
    assert second.rerun_from == 3 and list(second.timings) == ["4:gamma"]
    fresh = p.with_overrides(["stitch.scale=0.5"]).run(engine.catalog.frame(fid))
    np.testing.assert_array_equal(second.rgb, fresh.rgb)
    covered = fresh.alpha is not None and fresh.alpha >= 1.0  # the sky fill does not change
    assert np.abs(second.rgb - first.rgb)[covered].mean() > 0.01
    again = engine.preview(fid, pipeline_from_page(FAST), scale=0.5)
    assert again.rerun_from == 4  # all cached
    np.testing.assert_array_equal(again.rgb, first.rgb)


def test_the_preview_scales_pixel_sized_parameters(served: Path):
    from junocam.pipeline import Stage

    assert PreviewEngine.preview_params(Stage.make("flatten", {"sigma": 60.0}), 0.4)["sigma"] == 24
    p = PreviewEngine.preview_params(Stage.make("stitch", {"scale": 0.5}), 0.4)
    assert p["scale"] == pytest.approx(0.2)


def test_snapshots_show_every_stage(client: TestClient):
    fid = frame_of(client)
    r = client.post("/api/snapshots", json={"frame": fid, "recipe": FAST, "scale": 0.3})
    labels = [s["label"] for s in r.json()["snapshots"]]
    assert labels == ["01-stitch", "02-compose", "03-stretch", "04-gamma"]
    assert all(s["image"].startswith("data:image/jpeg;base64,") for s in r.json()["snapshots"])


# -- jobs --------------------------------------------------------------------------------
def wait_job(client: TestClient, job: dict, timeout: float = 120.0) -> dict:
    t0 = time.time()
    while job["status"] == "running" and time.time() - t0 < timeout:
        time.sleep(0.2)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def test_process_and_batch_write_only_into_the_output_folder(client: TestClient, tmp_path):
    fid = frame_of(client)
    before = sorted(p.name for p in (tmp_path / "frames").iterdir())
    job = wait_job(client, client.post("/api/process", json={"frame": fid, "recipe": FAST}).json())
    assert job["status"] == "done", job
    assert f"{RGB_SAMPLE[:-4]}-fast.png" in job["outputs"]
    png = client.get(f"/api/outputs/{RGB_SAMPLE[:-4]}-fast.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    batch = wait_job(client, client.post("/api/batch", json={"recipe": FAST}).json())
    assert batch["status"] == "done" and batch["total"] == 1 and batch["done"] == 1, batch
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "manifest.jsonl" in out and "fast.studio.toml" in out
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == before


def test_studio_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "junocam.studio.app", raising=False)
    for name in [m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "starlette", None)
    r = CliRunner().invoke(main, ["studio", "--no-browser", str(SAMPLES)])
    assert r.exit_code == 2
    assert "pip install 'junocam[studio]'" in r.output


def test_memory_pressure_drops_old_branches_not_the_recipe_in_use(served: Path):
    engine = PreviewEngine(FrameCatalog([served]), budget_bytes=1)  # keep only what is in use
    fid = engine.catalog.frames[0].id
    recipe = json.loads(json.dumps(FAST))
    recipe["stages"].insert(0, {"name": "hot_pixels"})
    assert engine.preview(fid, pipeline_from_page(recipe), scale=0.3).rerun_from == 0
    for gamma in (1.5, 2.0, 2.5, 3.0):
        recipe["stages"][4]["params"]["gamma"] = gamma
        res = engine.preview(fid, pipeline_from_page(recipe), scale=0.3)
        assert res.rerun_from == 4 and list(res.timings) == ["5:gamma"]
    assert engine.cached_bytes() > 0 and len(engine._cache) == 5


def test_the_command_serves_on_localhost_until_stopped(served: Path, tmp_path: Path):
    import signal
    import subprocess
    import urllib.request

    cmd = [sys.executable, "-c", "from junocam.cli import main; main()", "studio", str(served)]
    cmd += ["-o", str(tmp_path / "out"), "--port", "0", "--no-browser"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # "junocam studio: http://127.0.0.1:PORT/ (...)"
        assert line.startswith("junocam studio: http://127.0.0.1:"), line
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/config", timeout=30) as res:
            frames = json.loads(res.read())["frames"]
        assert [f["name"] for f in frames] == [f"{RGB_SAMPLE}.png"]
        with urllib.request.urlopen(url, timeout=30) as res:
            assert b"studio.js" in res.read()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) is not None


def test_a_kept_spin_fit_is_not_forced_on_a_recipe_without_one(served: Path, tmp_path: Path):
    from junocam.studio.jobs import JobBoard, process_frame_job

    frame = served / f"{RGB_SAMPLE}.png"
    fits = {"f": object()}  # a stale fit that would break the stitch if it were used
    work = process_frame_job(
        frame, pipeline_from_page(FAST), tmp_path / "o", "png8", [frame], fits, "f", 10**9
    )
    job = JobBoard().start("process", 1, work)
    assert job.wait(120) and job.as_dict()["status"] == "done", job.as_dict()
    assert (tmp_path / "o" / f"{RGB_SAMPLE[:-4]}-fast.png").is_file()
