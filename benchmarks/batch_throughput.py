"""Benchmark (not a test): `junocam batch` throughput with 1, 2, ... workers.

Runs the same batch once per worker count, each time into a fresh output folder
(so nothing is skipped), and records wall time, frames per minute, the speed-up
over the first worker count and the per-frame times from the manifest.

Usage
-----
    python benchmarks/batch_throughput.py ../shared/junocam/raw/JNCE_2022*C*/ \
        --jobs 1 2 --output benchmarks/results/batch_throughput.json

The input folders can be anything ``junocam batch`` accepts. Frames that fail
are counted in the record but excluded from the throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from junocam._version import __version__
from junocam.batch import MANIFEST_NAME, read_manifest


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def run_once(inputs: list[str], jobs: int, pipeline: str, overrides: list[str]) -> dict:
    """One batch into a fresh folder; wall time and the manifest's per-frame numbers."""
    with tempfile.TemporaryDirectory(prefix="junocam-bench-") as out:
        cmd = [sys.executable, "-c", "from junocam.cli import main; main()", "batch"]
        cmd += [*inputs, "-o", out, "--jobs", str(jobs), "--pipeline", pipeline]
        for o in overrides:
            cmd += ["--set", o]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        records = read_manifest(Path(out) / MANIFEST_NAME)
    done = [r for r in records if r["status"] == "done"]
    per_frame = [r["elapsed_s"] for r in done]
    return {
        "jobs": jobs,
        "exit_code": proc.returncode,
        "frames_done": len(done),
        "frames_failed": len(records) - len(done),
        "wall_s": round(wall, 2),
        "frames_per_min": round(len(done) / wall * 60.0, 2) if done else 0.0,
        "median_frame_s": round(statistics.median(per_frame), 2) if per_frame else None,
        "load_average_before": load,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="raw images, folders or globs")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pipeline", default="enhanced")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--output", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    runs = []
    for jobs in args.jobs:
        r = run_once(args.inputs, jobs, args.pipeline, args.overrides)
        runs.append(r)
        print(json.dumps(r), flush=True)
    base = runs[0]["frames_per_min"] or None
    for r in runs:
        r["speedup"] = round(r["frames_per_min"] / base, 2) if base else None
    result = {
        "benchmark": "junocam batch throughput",
        "inputs": args.inputs,
        "pipeline": args.pipeline,
        "overrides": args.overrides,
        "junocam_version": __version__,
        "commit": _git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({r["jobs"]: (r["frames_per_min"], r["speedup"]) for r in runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
