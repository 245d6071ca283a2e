"""Fault injection in batch runs: a full disk, an unwritable output folder, inputs that
vanish or change mid-run, Ctrl-C. After each: finished outputs intact, the manifest
valid JSON lines, no half-written file, and the next run completes the batch.

Worker death (``JUNOCAM_TEST_CRASH_ON``) and ``kill -9`` are covered in tests/test_batch.py,
whose frames and helpers are reused here. To inject faults with monkeypatch, the
frames run in this process (``junocam.batch.run.local_results`` replaced by a serial loop).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_batch import FAST, assert_images_complete, by_name, make_inputs, run, sim_frames

import junocam.batch
import junocam.batch.manifest
import junocam.batch.run
import junocam.output
from junocam.batch import MANIFEST_NAME, read_manifest

__all__ = ["sim_frames"]  # the session fixture, imported for pytest


@pytest.fixture
def in_process(monkeypatch):
    """Run batch frames serially in this process, so monkeypatched faults reach them."""

    def serial(tasks, jobs):
        for task in tasks:
            yield task, junocam.batch.run_task(task)

    monkeypatch.setattr(junocam.batch.run, "local_results", serial)


def assert_clean(out: Path) -> None:
    """Manifest lines are JSON objects (a cut last line at most), no temp files, PNGs whole."""
    lines = (out / MANIFEST_NAME).read_bytes().splitlines()
    for i, line in enumerate(lines):
        try:
            assert isinstance(json.loads(line), dict)
        except ValueError:
            assert i == len(lines) - 1, f"line {i + 1} of {len(lines)} is not JSON"
    assert not list(out.glob(".*.tmp")) and not list(out.glob("**/.*.tmp"))
    assert_images_complete(out)


def statuses(out: Path) -> dict[str, list[str]]:
    return {
        k: [r["status"] for r in v] for k, v in by_name(read_manifest(out / MANIFEST_NAME)).items()
    }


def test_disk_full_while_writing_an_image(sim_frames, tmp_path, monkeypatch, in_process):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=3, bad=False)
    out = tmp_path / "out"
    real_fsync = os.fsync

    def fsync(fd):
        if "JNCS_G1" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(junocam.output.os, "fsync", fsync)
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 1 and "Traceback" not in res.output
    st = statuses(out)
    assert st == {"JNCS_G0-raw.png": ["done"], "JNCS_G1-raw.png": ["failed"],
                  "JNCS_G2-raw.png": ["done"]}  # fmt: skip
    err = by_name(read_manifest(out / MANIFEST_NAME))["JNCS_G1-raw.png"][0]["error"]
    assert "No space left on device" in err and "JNCS_G1" in err
    assert not list(out.glob("JNCS_G1*")) and len(list(out.glob("JNCS_G0*"))) == 2
    assert_clean(out)
    monkeypatch.setattr(junocam.output.os, "fsync", real_fsync)  # space freed
    before = {p.name: p.read_bytes() for p in out.glob("JNCS_G[02]*")}
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 0 and "skipped          2" in res.stdout, res.output
    assert {p.name: p.read_bytes() for p in out.glob("JNCS_G[02]*")} == before
    assert statuses(out)["JNCS_G1-raw.png"] == ["failed", "done"]
    assert_clean(out)


def test_disk_full_while_appending_to_the_manifest(sim_frames, tmp_path, monkeypatch, in_process):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=3, bad=False)
    out = tmp_path / "out"
    real_write = os.write
    calls = {"n": 0}

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(MANIFEST_NAME):
            calls["n"] += 1
            if calls["n"] == 2:  # the second record: half of it lands, then the disk is full
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(junocam.batch.manifest.os, "write", write)
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"error: {out / MANIFEST_NAME}: cannot write the manifest: No space left" in res.stderr
    assert_clean(out)
    assert len(read_manifest(out / MANIFEST_NAME)) == 1  # the cut line is ignored
    monkeypatch.setattr(junocam.batch.manifest.os, "write", real_write)
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    assert all(v[-1] == "done" for v in statuses(out).values()) and len(statuses(out)) == 3
    assert_clean(out)


def test_unwritable_output_folder(sim_frames, tmp_path, monkeypatch):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=1, bad=False)
    out = tmp_path / "out"
    out.mkdir()

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(junocam.batch.manifest, "open", denied, raising=False)  # root ignores chmod
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"error: {out}: output directory is not writable: Permission denied" in res.stderr
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    (tmp_path / "file.txt").write_text("x")
    res = run("batch", raw, "-o", tmp_path / "file.txt" / "sub", *FAST)
    assert res.exit_code == 1 and "Traceback" not in res.output and "file.txt" in res.stderr


def test_input_disappears_during_the_run(sim_frames, tmp_path, monkeypatch):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=3, bad=False)
    out = tmp_path / "out"
    real = junocam.batch.run_task

    def serial(tasks, jobs):
        for task in tasks:
            if "JNCS_G1" in task.entry:  # deleted after discovery, before its turn
                Path(task.entry).unlink()
            yield task, real(task)

    monkeypatch.setattr(junocam.batch.run, "local_results", serial)
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 1 and "Traceback" not in res.output
    rec = by_name(read_manifest(out / MANIFEST_NAME))["JNCS_G1-raw.png"][0]
    assert rec["status"] == "failed" and "file does not exist" in rec["error"]
    assert_clean(out)
    shutil.copy(sim_frames / "JNCS_G1-raw.png", raw / "JNCS_G1-raw.png")  # it comes back
    monkeypatch.undo()
    res = run("batch", raw, "-o", out, "--jobs", "1", *FAST)
    assert res.exit_code == 0 and "skipped          2" in res.stdout, res.output


def test_input_changes_during_the_run(sim_frames, tmp_path, monkeypatch):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=2, bad=False)
    out = tmp_path / "out"
    real = junocam.batch.run_task

    def serial(tasks, jobs):
        for task in tasks:
            result = real(task)
            if "JNCS_G0" in task.entry:  # replaced right after it was processed
                shutil.copy(sim_frames / "JNCS_G3-raw.png", task.entry)
            yield task, result

    monkeypatch.setattr(junocam.batch.run, "local_results", serial)
    res = run("batch", raw, "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    assert_clean(out)
    monkeypatch.undo()
    res = run("batch", raw, "-o", out, "--jobs", "1", *FAST)  # the changed one is redone
    assert (
        res.exit_code == 0
        and "skipped          1" in res.stdout
        and "done             1" in res.stdout
    )
    assert statuses(out)["JNCS_G0-raw.png"] == ["done", "done"]


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(sim_frames, tmp_path):
    raw = make_inputs(sim_frames, tmp_path / "raw", n_good=4, bad=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from junocam.cli import main; main()"]
    args = ["batch", str(raw), "-o", str(out), "--jobs", "1"]
    slow = ["--pipeline", "enhanced", "--set", "stitch.fit_spin=false"]

    # a terminal's process starts with Ctrl-C at its default; one launched from a
    # background job inherits it ignored (and Python then installs no handler)
    def default_ctrl_c() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(
        cmd + args + slow,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_ctrl_c,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if any(r["status"] == "done" for r in read_manifest(out / MANIFEST_NAME)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before Ctrl-C"
        os.kill(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the main process
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "interrupted: re-run the same command" in stderr and "Traceback" not in stderr
    first = {r["key"] for r in read_manifest(out / MANIFEST_NAME) if r["status"] == "done"}
    assert 1 <= len(first) < 4
    assert_clean(out)
    res = run(*args, *slow)
    assert res.exit_code == 0, res.output
    assert f"skipped          {len(first)}" in res.stdout
    assert len(list(out.glob("JNCS_G*-enhanced.png"))) == 4
    assert_clean(out)
