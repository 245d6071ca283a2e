"""Benchmark (not a test): the studio's live-preview latency per parameter change.

Starts the studio server (127.0.0.1, a free port) on one frame and, as the page
does, POSTs ``/api/preview`` with the ``enhanced`` recipe: first the cold preview
(decode, clean-up, spin fit, stitch, colour), then changes of one parameter of
one stage at a time, each to values not seen before (so nothing is served from
the cache). For each change it records the HTTP round trip (what the page
waits for: the stages that re-run, JPEG encoding, base64, JSON), the stages' own
time and which stage the preview re-ran from.

Usage
-----
    python -m benchmarks.studio_latency                       # 44C00029, scales 0.4 and 0.5
    python -m benchmarks.studio_latency --frame X-raw.png --scales 0.4 --repeats 5

Results: ``benchmarks/results/studio_latency.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from junocam._version import __version__
from junocam.pipeline import Pipeline
from junocam.studio import recipe_to_page
from junocam.studio.app import StudioConfig, start_in_thread

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FRAME = (
    REPO.parent / "shared/junocam/raw/JNCE_2022229_44C00029_V01/JNCE_2022229_44C00029_V01-raw.png"
)
RESULTS = REPO / "benchmarks" / "results"

#: (label, stage name, occurrence, parameter, values): one change per value.
CHANGES = [
    ("final stretch high", "stretch", 1, "high", [99.5, 99.9, 99.6, 99.95, 99.7]),
    ("saturation factor", "saturation", 0, "factor", [1.5, 1.2, 1.7, 1.1, 1.6]),
    ("unsharp amount", "unsharp", 0, "amount", [1.0, 0.3, 1.5, 0.8, 1.2]),
    ("clahe amount", "clahe", 0, "amount", [0.3, 0.8, 0.5, 0.9, 0.4]),
    ("gamma", "gamma", 0, "gamma", [1.8, 1.2, 2.2, 1.6, 2.0]),
    ("flatten strength", "flatten", 0, "strength", [0.5, 0.9, 0.3, 0.8, 0.6]),
    ("first stretch high", "stretch", 0, "high", [99.5, 99.9, 99.6, 99.95, 99.8]),
    ("compose percentile", "compose", 0, "percentile", [99.5, 99.8, 99.0, 99.95, 99.7]),
    ("stitch feather (re-stitch)", "stitch", 0, "feather", [4.0, 12.0, 6.0, 16.0, 10.0]),
    ("hot_pixels threshold (clean-up)", "hot_pixels", 0, "threshold", [9.0, 7.0, 10.0, 6.0, 12.0]),
]


def _post(url: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as res:
        payload = json.loads(res.read())
    return time.perf_counter() - t0, payload


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def measure(frame: Path, scales: list[float], repeats: int) -> dict[str, Any]:
    """Every change at every scale; the raw numbers and per-change medians."""
    out_dir = Path(tempfile.mkdtemp(prefix="junocam-studio-bench-"))
    url, stop = start_in_thread(StudioConfig(inputs=(frame,), out_dir=out_dir, port=0))
    runs: list[dict[str, Any]] = []
    try:
        with urllib.request.urlopen(url + "api/config") as res:
            fid = json.loads(res.read())["frames"][0]["id"]
        for scale in scales:
            recipe = recipe_to_page(Pipeline.named("enhanced"))
            wall, res = _post(url + "api/preview", {"frame": fid, "recipe": recipe, "scale": scale})
            runs.append(_row(scale, "first preview (cold)", wall, res))
            for label, stage, nth, param, values in CHANGES:
                idx = [i for i, s in enumerate(recipe["stages"]) if s["name"] == stage][nth]
                for value in values[:repeats]:
                    recipe["stages"][idx]["params"][param] = value
                    body = {"frame": fid, "recipe": recipe, "scale": scale}
                    wall, res = _post(url + "api/preview", body)
                    runs.append(_row(scale, label, wall, res))
    finally:
        stop()
    return {"runs": runs, "summary": _summary(runs)}


def _row(scale: float, label: str, wall: float, res: dict[str, Any]) -> dict[str, Any]:
    stages = res["stages"]
    start = res["rerun_from"]
    return {
        "scale": scale,
        "change": label,
        "round_trip_s": round(wall, 4),
        "stages_s": res["seconds"],
        "rerun_from": stages[start] if start < len(stages) else "cache",
        "stages_rerun": len(stages) - start,
        "size": [res["height"], res["width"]],
    }


def _summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = list(dict.fromkeys((r["scale"], r["change"]) for r in runs))
    for scale, change in keys:
        rows = [r for r in runs if r["scale"] == scale and r["change"] == change]
        trips = [r["round_trip_s"] for r in rows]
        out.append(
            {
                "scale": scale,
                "change": change,
                "n": len(rows),
                "median_round_trip_s": round(statistics.median(trips), 3),
                "max_round_trip_s": round(max(trips), 3),
                "median_stages_s": round(statistics.median(r["stages_s"] for r in rows), 3),
                "rerun_from": rows[0]["rerun_from"],
                "stages_rerun": rows[0]["stages_rerun"],
                "size": rows[0]["size"],
            }
        )
    return out


def write_markdown(record: dict[str, Any], path: Path) -> None:
    """The summary as a Markdown table."""
    lines = [
        "# Studio preview latency per change",
        "",
        f"Frame `{record['frame']}`, recipe `enhanced`, {record['cpus']} CPUs, "
        f"load average {record['load_before']:.2f} before and {record['load_after']:.2f} "
        f"after; junocam {record['version']} at {record['commit']}, {record['date']}. "
        "Round trip: the HTTP request as the page makes it (stages that re-run, JPEG, "
        "base64, JSON); stages: the re-run stages alone. Medians of "
        f"{record['repeats']} changes to values not seen before (no cache hits).",
        "",
        "| scale | preview px | change | re-run from | stages re-run "
        "| round trip median (max) | stages median |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in record["summary"]:
        lines.append(
            f"| {s['scale']} | {s['size'][1]}x{s['size'][0]} | {s['change']} | {s['rerun_from']} "
            f"| {s['stages_rerun']} | {s['median_round_trip_s']:.2f} s "
            f"({s['max_round_trip_s']:.2f} s) | {s['median_stages_s']:.2f} s |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frame", type=Path, default=DEFAULT_FRAME)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.4, 0.5])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", type=Path, default=RESULTS / "studio_latency.json")
    args = ap.parse_args()
    if not args.frame.is_file():
        raise SystemExit(f"frame not found: {args.frame}")
    load_before = os.getloadavg()[0]
    result = measure(args.frame, args.scales, args.repeats)
    record = {
        "frame": args.frame.name,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "version": __version__,
        "commit": _git_commit(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    write_markdown(record, args.output.with_suffix(".md"))
    print(args.output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
