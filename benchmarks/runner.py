"""Per-stage benchmarks of full-size frames against the I/O floor (issue 6).

For every frame the runner times each stage (median of ``--repeats`` runs), measures
its peak memory with :mod:`tracemalloc` in a separate run (tracing slows Python code
down, so it never overlaps a timed run) and records the size of its output. In the
same run it measures the *I/O floor*: decoding the input PNG (``read_frame``) plus
encoding the final output image (``encode_png``, 8 bits, zlib level 3, as
``junocam process`` writes it) and writing it to disk.

The five ratios of the issue, per frame (end to end, file in and file out, so each
is ``1 + work / floor``):

(a) decode + decompand + split + naive composite + encode, over the floor;
(b) decode + the ``raw`` recipe (spin fit and seamless stitch) + encode;
(c) decode + the ``enhanced`` recipe + encode;
(d) peak traced memory of one frame (decode, ``enhanced``, encode) over the size of
    its decoded 8-bit raw array; the recipes run as ``junocam process`` runs them,
    without keeping the band images (``keep_bands=False``);
(e) batch throughput with two workers over one worker (``junocam batch``);
(f) the whole ``junocam map`` work of a real frame (decode, spin fit, navigation,
    the ``map`` recipe projected orthographically, PNG and sidecar written) over the
    same floor, when the README's kernels (``../shared/junocam/kernels``) cover it:
    once with an empty geometry cache (``f_map``) and once more with the cache the
    first run filled (``f_map_warm``).

Frames: ``sim30`` (simulated 30-exposure RGB, 1648 x 11520), ``worst`` (simulated
82 exposures, 1648 x 31488), ``real`` (every raw PNG in ``../shared/junocam/raw``),
``quick`` (a tiny simulated frame for smoke runs). Simulated frames are made at run
time in a temporary folder.

Usage
-----
    python -m benchmarks                      # sim30 + real frames, batch on 2 workers
    python -m benchmarks --frames sim30,worst,real --repeats 3
    python -m benchmarks --quick --output-dir /tmp/bench   # seconds; schema smoke run

Results go to ``<output-dir>/latest.json`` (machine-readable) and ``latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from junocam._version import __version__
from junocam.companding import decompand
from junocam.compose import compose_rgb, naive_band_images, naive_band_offsets, shift_bands
from junocam.decode import read_frame
from junocam.framelets import split
from junocam.geometry import fit_frame_spin
from junocam.output import encode_png, to_uint
from junocam.pipeline import Pipeline
from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame

from .batch_throughput import _git_commit, run_once

SCHEMA = "junocam-benchmarks/1"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_RAW = REPO_ROOT.parent / "shared" / "junocam" / "raw"
#: the kernels of the README's map examples (PJ43/PJ44 SPK and the PCK)
SHARED_KERNELS = (
    REPO_ROOT.parent / "shared" / "junocam" / "kernels" / "kmgill_spk_2022_pj43_pj44",
    REPO_ROOT.parent
    / "shared"
    / "junocam"
    / "kernels"
    / "ale_JNCR_2016240_01M06152_V01"
    / "pck00010.tpc",
)
#: targets of issue 6: ratio name -> (limit, "max" or "min")
TARGETS = {
    "a_naive": (1.5, "max"),
    "b_raw": (3.0, "max"),
    "c_enhanced": (6.0, "max"),
    "d_memory": (8.0, "max"),
    "e_batch_speedup": (1.8, "min"),
    "f_map": (10.0, "max"),
    "f_map_warm": (10.0, "max"),
}
#: stages in the order of the table; ``recipe:*`` rows are whole pipeline runs
CHAIN = ("decode", "decompand", "split", "naive_composite", "encode")
#: the recipe runs: ``enhanced_fast`` is what ``junocam process --fast`` runs
RECIPES = ("raw", "enhanced", "enhanced_fast")


def _recipe_pipelines() -> dict[str, Pipeline]:
    return {
        "raw": Pipeline.named("raw"),
        "enhanced": Pipeline.named("enhanced"),
        "enhanced_fast": Pipeline.named("enhanced").with_overrides(["stitch.scale=0.5"]),
    }


@dataclass(frozen=True)
class FrameInput:
    """A raw frame on disk to benchmark."""

    name: str
    path: Path
    kind: str
    #: given to ``read_frame`` for a frame without metadata (recorded as assumed)
    interframe_delay: float | None = None


def simulated_input(folder: Path, name: str, n_exposures: int, seed: int = 1) -> FrameInput:
    """Simulate an RGB frame with ``n_exposures`` and write it as the website serves it."""
    product = f"JNCE_2022186_99C{seed:02d}{n_exposures:03d}_V01"
    spec = SimulationSpec(n_exposures=n_exposures, oversample=1, seed=seed, product_id=product)
    sim = simulate_frame(JupiterScene(), spec)
    png = folder / f"{product}-raw.png"
    png.write_bytes(encode_png(sim.strip))
    (folder / f"{product}-raw.json").write_text(metadata_json(sim.metadata), encoding="utf-8")
    return FrameInput(name, png, "simulated")


def real_inputs(root: Path = SHARED_RAW) -> list[FrameInput]:
    """Every raw PNG under ``root/*/`` (empty when the folder is absent).

    A PNG without metadata gets a typical INTERFRAME_DELAY (0.371 s), so that it can
    be stitched; the report lists it among the frame's assumed values.
    """
    out = []
    for p in sorted(root.glob("*/*-raw.png")):
        delay = None if read_frame(p).meta.interframe_delay is not None else 0.371
        out.append(FrameInput(p.parent.name, p, "real", delay))
    return out


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, list[float]]:
    """Run ``fn`` ``repeats`` times; its last result and every wall time (s)."""
    times = []
    out = None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def traced_peak(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated (numpy buffers included) while ``fn`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del out
    return int(peak)


def _nbytes(x: Any) -> int:
    if isinstance(x, np.ndarray):
        return int(x.nbytes)
    if isinstance(x, bytes):
        return len(x)
    if isinstance(x, dict):
        return sum(_nbytes(v) for v in x.values())
    if hasattr(x, "data") and isinstance(x.data, np.ndarray):
        return int(x.data.nbytes)
    return 0


def _naive(framelets: Any, delay: float | None) -> np.ndarray:
    bands = naive_band_images(framelets, photoactive=True)
    offsets = naive_band_offsets(
        bands, interframe_delay=delay, framelet_lines=framelets.framelet_lines
    )
    return compose_rgb(shift_bands(bands, offsets))


def _encode_to(folder: Path, rgb: np.ndarray) -> bytes:
    data = encode_png(to_uint(rgb, 8), 3)
    (folder / "bench-out.png").write_bytes(data)
    return data


def bench_frame(
    fi: FrameInput,
    repeats: int,
    recipe_repeats: int,
    scratch: Path,
    memory: bool = True,
    recipes: tuple[str, ...] = RECIPES,
    kernels: Any = None,
) -> dict[str, Any]:
    """All stages of one frame: times, peak memory, output sizes and the ratios.

    With ``kernels`` (a real frame they cover) the ``junocam map`` work is measured too.

    ``recipes`` is a subset of :data:`RECIPES` (the worst-case frame takes minutes per
    recipe); ratios whose stages were not run are None. The output image of the I/O
    floor is that of the first of ``enhanced``, ``raw``, ``enhanced_fast`` run.
    """
    stages: dict[str, dict[str, Any]] = {}

    def record(name: str, fn: Callable[[], Any], reps: int) -> Any:
        out, times = timed(fn, reps)
        stages[name] = {
            "median_s": round(_median(times), 4),
            "runs_s": [round(t, 4) for t in times],
            "peak_mem_bytes": traced_peak(fn) if memory else None,
            "output_bytes": _nbytes(out),
        }
        return out

    frame = record(
        "decode", lambda: read_frame(fi.path, interframe_delay=fi.interframe_delay), repeats
    )
    meta = frame.meta
    linear = record("decompand", lambda: decompand(frame.pixels, meta.companding), repeats)
    fr = record("split", lambda: split(linear, meta.filters, meta.framelet_lines), repeats)
    record("naive_composite", lambda: _naive(fr, meta.interframe_delay), repeats)
    recipe_stages: dict[str, dict[str, float]] = {}
    results: dict[str, Any] = {}
    runs = {k: v for k, v in _recipe_pipelines().items() if k in recipes}
    for label, pipe in runs.items():
        per_stage: dict[str, list[float]] = {}

        def run(pipe: Pipeline = pipe, per_stage: dict[str, list[float]] = per_stage) -> Any:
            res = pipe.run(frame, keep_bands=False)  # as junocam process runs it
            if not tracemalloc.is_tracing():  # the traced run is slower: not a timing
                for k, v in res.timings.items():
                    per_stage.setdefault(k, []).append(v)
            return res

        res = record(f"recipe:{label}", run, recipe_repeats)
        stages[f"recipe:{label}"]["output_bytes"] = int(res.rgb.nbytes)
        recipe_stages[label] = {k: round(_median(v), 4) for k, v in per_stage.items()}
        results[label] = res
    final = next(k for k in ("enhanced", "raw", "enhanced_fast") if k in results)
    fit = results[final].fit
    if "raw" in results:
        record("spin_fit", lambda: fit_frame_spin(fr, meta.interframe_delay), recipe_repeats)
    rgb = results[final].rgb
    record("encode", lambda: _encode_to(scratch, rgb), repeats)
    if memory:
        pipe = runs[final]
        one = traced_peak(
            lambda: _encode_to(
                scratch,
                pipe.run(
                    read_frame(fi.path, interframe_delay=fi.interframe_delay), keep_bands=False
                ).rgb,
            )
        )
    else:
        one = None
    t = {k: v["median_s"] for k, v in stages.items()}
    floor = t["decode"] + t["encode"]
    raw_bytes = int(frame.pixels.nbytes)

    def over_floor(*work: str) -> float | None:
        if any(w not in t for w in work):
            return None
        return (floor + sum(t[w] for w in work)) / floor

    mapped = bench_map(fi.path, kernels, scratch) if kernels is not None else None
    map_ok = mapped is not None and "error" not in mapped
    ratios = {
        "f_map": mapped["cold_s"] / floor if map_ok else None,  # type: ignore[index]
        "f_map_warm": mapped["warm_s"] / floor if map_ok else None,  # type: ignore[index]
        "a_naive": over_floor("decompand", "split", "naive_composite"),
        "b_raw": over_floor("recipe:raw"),
        "c_enhanced": over_floor("recipe:enhanced"),
        "d_memory": one / raw_bytes if one is not None else None,
        "fast_preview": over_floor("recipe:enhanced_fast"),
    }
    fit_info = None
    if fit is not None:
        fit_info = {
            k: fit.as_dict(meta.interframe_delay).get(k)
            for k in ("turn_per_exposure_rad", "band_registration_px", "seam_rms_px", "fallback")
        }
    return {
        "name": fi.name,
        "kind": fi.kind,
        "file": fi.path.name,
        "shape": list(frame.pixels.shape),
        "filters": [f.value for f in meta.filters],
        "exposures": meta.n_exposures,
        "assumed": list(meta.assumed),
        "raw_bytes": raw_bytes,
        "output_shape": list(rgb.shape),
        "io_floor_s": round(floor, 4),
        "frame_peak_mem_bytes": one,
        "stages": stages,
        "recipe_stages": recipe_stages,
        "ratios": {k: (round(v, 3) if v is not None else None) for k, v in ratios.items()},
        "spin_fit": fit_info,
        "map": mapped,
    }


def map_kernels(paths: tuple[Path, ...] = SHARED_KERNELS) -> Any:
    """The README's kernel set, or None when it (or spiceypy) is absent."""
    try:
        import spiceypy  # noqa: F401

        from junocam.planet.spice import KernelSet
    except ImportError:
        return None
    if not all(p.exists() for p in paths):
        return None
    return KernelSet.from_path([str(p) for p in paths])


def bench_map(
    path: Path,
    kernels: Any,
    scratch: Path,
    projection: str = "orthographic",
    resolution: float | None = None,
) -> dict:
    """The whole ``junocam map`` work on one file, cold and warm geometry cache.

    Returns the wall times (s) of both runs, or the error of a frame that cannot be
    mapped (e.g. navigation refused).
    """
    from junocam.errors import JunoCamError
    from junocam.maps.cache import GeometryCache
    from junocam.maps.frame import MapOptions, map_file

    cache = GeometryCache(scratch / "geometry-cache")
    out = scratch / "map-out"
    out.mkdir(exist_ok=True)
    pipe = Pipeline.named("map")
    times = []
    try:
        for _ in range(2):
            t0 = time.perf_counter()
            mopts = MapOptions(out, projection, resolution, cache=cache)
            rec = map_file(path, kernels, pipe, mopts)
            times.append(time.perf_counter() - t0)
    except Exception as err:  # noqa: BLE001 - one frame's failure is reported, not fatal
        kind = "" if isinstance(err, JunoCamError) else f"{type(err).__name__}: "
        return {"error": f"{kind}{err}"}
    finally:
        for f in out.iterdir():
            f.unlink()
    return {
        "projection": projection,
        "cold_s": round(times[0], 4),
        "warm_s": round(times[1], 4),
        "grid": [rec["grid"]["cols"], rec["grid"]["rows"]],
        "timings_s": rec["timings_s"],
    }


def bench_batch(inputs: list[Path], recipe: str) -> dict[str, Any]:
    """``junocam batch`` on the same inputs with 1 and then 2 workers."""
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env_path) if p)
    try:
        runs = [run_once([str(p) for p in inputs], jobs, recipe, []) for jobs in (1, 2)]
    finally:
        os.environ["PYTHONPATH"] = env_path
    one, two = runs[0]["frames_per_min"], runs[1]["frames_per_min"]
    return {
        "recipe": recipe,
        "frames": len(inputs),
        "shape": list(read_frame(inputs[0]).pixels.shape),
        "runs": runs,
        "speedup": round(two / one, 3) if one else None,
    }


def machine_info(note: str) -> dict[str, Any]:
    """CPU, cores, versions and load: what the numbers were measured on."""
    import scipy
    import skimage

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit_image": skimage.__version__,
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "note": note,
    }


def _verdict(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    limit, sense = TARGETS[name]
    ok = value <= limit if sense == "max" else value >= limit
    return "met" if ok else "NOT met"


def _load(avg: list[float] | None) -> str:
    return f"{avg[0]:.2f}" if avg else "n/a"


def markdown(report: dict[str, Any]) -> str:
    """The human table of a report."""
    m = report["machine"]
    lines = [
        f"Benchmarks of junocam {report['junocam_version']} (commit {report['commit']}), "
        f"{report['date']}; {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}; load average before "
        f"{_load(m['load_average'])}, after {_load(m.get('load_average_after'))}. "
        f"{m['note']}".strip(),
        "",
        "| frame | size (samples x lines) | I/O floor s | (a) naive | (b) raw | (c) enhanced "
        "| (d) memory | fast preview | (f) map | map, warm cache |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in report["frames"]:
        r = {k: (f"{v:.2f}x" if v is not None else "-") for k, v in f["ratios"].items()}
        lines.append(
            f"| {f['name']} | {f['shape'][1]} x {f['shape'][0]} | {f['io_floor_s']:.2f} "
            f"| {r['a_naive']} | {r['b_raw']} | {r['c_enhanced']} | {r['d_memory']} "
            f"| {r['fast_preview']} | {r.get('f_map', '-')} | {r.get('f_map_warm', '-')} |"
        )
    for e in report.get("errors", []):
        lines.append(f"| {e['name']} | failed: {e['error']} | | | | | | | | |")
    b = report.get("batch")
    if b:
        lines += [
            "",
            f"(e) batch, {b['frames']} frames of {b['shape'][1]} x {b['shape'][0]}, "
            f"`{b['recipe']}`: 1 worker {b['runs'][0]['frames_per_min']} frames/min, "
            f"2 workers {b['runs'][1]['frames_per_min']} frames/min, speed-up "
            f"{b['speedup']}x.",
        ]
    s = report["summary"]
    lines += ["", "| target | limit | worst frame | value | verdict |", "|---|---|---|---|---|"]
    for name, (limit, sense) in TARGETS.items():
        v = s[name]
        sign = "<=" if sense == "max" else ">="
        val = f"{v['value']:.2f}x" if v["value"] is not None else "n/a"
        lines.append(
            f"| {name} | {sign} {limit}x | {v['frame'] or '-'} | {val} "
            f"| {_verdict(name, v['value'])} |"
        )
    maps = [(f["name"], f["map"]) for f in report["frames"] if f.get("map")]
    if maps:
        lines += ["", "(f) `junocam map` (orthographic, `map` recipe), seconds:", ""]
        lines += ["| frame | grid | cold cache | warm cache | inside the warm run |"]
        lines += ["|---|---|---|---|---|"]
        for name, m in maps:
            if "error" in m:
                lines.append(f"| {name} | not mapped: {m['error']} | | | |")
                continue
            inside = ", ".join(f"{k} {v:.2f}" for k, v in m["timings_s"].items() if v >= 0.1)
            lines.append(
                f"| {name} | {m['grid'][0]} x {m['grid'][1]} | {m['cold_s']:.2f} "
                f"| {m['warm_s']:.2f} | {inside} |"
            )
    lines += ["", "Per stage, median seconds (peak traced MiB):", ""]
    names = [f["name"] for f in report["frames"]]
    lines += ["| stage | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    order = [*CHAIN[:-1], "spin_fit", "recipe:raw", "recipe:enhanced", "recipe:enhanced_fast"]
    for st in [*order, "encode"]:
        cells = []
        for f in report["frames"]:
            x = f["stages"].get(st)
            if x is None:
                cells.append("-")
                continue
            mem = x["peak_mem_bytes"]
            cells.append(
                f"{x['median_s']:.2f}" + (f" ({mem / 2**20:.0f})" if mem is not None else "")
            )
        lines.append(f"| {st} | " + " | ".join(cells) + " |")
    lines += ["", "Inside `enhanced`, median seconds per stage:", ""]
    all_stages: list[str] = []
    for f in report["frames"]:
        all_stages += [k for k in f["recipe_stages"].get("enhanced", {}) if k not in all_stages]
    lines += ["| stage | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for st in all_stages:
        cells = [
            f"{f['recipe_stages']['enhanced'][st]:.2f}"
            if st in f["recipe_stages"].get("enhanced", {})
            else "-"
            for f in report["frames"]
        ]
        lines.append(f"| {st} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summarise(frames: list[dict[str, Any]], batch: dict[str, Any] | None) -> dict[str, Any]:
    """The worst value of each ratio over the frames (and the batch speed-up)."""
    out: dict[str, Any] = {}
    for name in ("a_naive", "b_raw", "c_enhanced", "d_memory", "f_map", "f_map_warm"):
        vals = [
            (f["ratios"].get(name), f["name"]) for f in frames if f["ratios"].get(name) is not None
        ]
        v, who = max(vals) if vals else (None, None)
        out[name] = {"value": v, "frame": who, "verdict": _verdict(name, v)}
    sp = batch["speedup"] if batch else None
    out["e_batch_speedup"] = {
        "value": sp,
        "frame": "batch",
        "verdict": _verdict("e_batch_speedup", sp),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m benchmarks``)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--frames",
        default="sim30,real",
        help="comma list of sim30, worst, real, real:<part of a name>",
    )
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each cheap stage")
    ap.add_argument("--recipe-repeats", type=int, default=3, help="timed runs of each recipe")
    ap.add_argument("--batch-frames", type=int, default=4, help="0 skips the batch benchmark")
    ap.add_argument("--batch-exposures", type=int, default=12)
    ap.add_argument("--batch-recipe", default="enhanced")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--no-map", action="store_true", help="skip the junocam map runs (f)")
    ap.add_argument(
        "--recipes", default=",".join(RECIPES), help=f"comma list, a subset of {RECIPES}"
    )
    ap.add_argument("--quick", action="store_true", help="tiny frames, one run: a smoke test")
    ap.add_argument("--note", default="", help="free text about the machine (shared? loaded?)")
    ap.add_argument("--output-dir", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    machine = machine_info(args.note)
    recipes = tuple(r for r in args.recipes.split(",") if r)
    if not recipes or set(recipes) - set(RECIPES):
        ap.error(f"--recipes must be a comma list of {', '.join(RECIPES)}")
    frames: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    batch = None
    with tempfile.TemporaryDirectory(prefix="junocam-bench-") as tmp:
        scratch = Path(tmp)
        inputs: list[FrameInput] = []
        if args.quick:
            inputs.append(simulated_input(scratch, "quick", 3))
            args.repeats = args.recipe_repeats = 1
            args.batch_frames, args.batch_exposures = min(args.batch_frames, 2), 3
        else:
            for name in args.frames.split(","):
                if name == "sim30":
                    inputs.append(simulated_input(scratch, "sim30", 30))
                elif name == "worst":
                    inputs.append(simulated_input(scratch, "worst", 82))
                elif name == "real":
                    inputs += real_inputs()
                elif name.startswith("real:"):  # one real frame by a part of its name
                    inputs += [f for f in real_inputs() if name[5:] in f.name]
                else:
                    ap.error(f"unknown frame set {name!r}")
        kernels = None if args.no_map else map_kernels()
        for fi in inputs:
            print(f"benchmarking {fi.name} ...", file=sys.stderr, flush=True)
            try:
                frames.append(
                    bench_frame(
                        fi,
                        args.repeats,
                        args.recipe_repeats,
                        scratch,
                        not args.no_memory,
                        recipes,
                        kernels if fi.kind == "real" else None,
                    )
                )
            except Exception as err:  # one bad frame must not lose the others' numbers
                print(f"error: {fi.name}: {err}", file=sys.stderr, flush=True)
                errors.append({"name": fi.name, "error": f"{type(err).__name__}: {err}"})
        if args.batch_frames > 0:
            bdir = scratch / "batch"
            bdir.mkdir()
            paths = [
                simulated_input(bdir, f"b{k}", args.batch_exposures, seed=10 + k).path
                for k in range(args.batch_frames)
            ]
            print(f"batch of {len(paths)} frames ...", file=sys.stderr, flush=True)
            batch = bench_batch(paths, args.batch_recipe)
    report = {
        "schema": SCHEMA,
        "junocam_version": __version__,
        "commit": _git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "settings": {
            "quick": args.quick,
            "repeats": args.repeats,
            "recipe_repeats": args.recipe_repeats,
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "recipes": list(recipes),
        },
        "machine": machine,
        "targets": {k: {"limit": v[0], "sense": v[1]} for k, v in TARGETS.items()},
        "frames": frames,
        "errors": errors,
        "batch": batch,
        "summary": summarise(frames, batch),
    }
    report["machine"]["load_average_after"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.output_dir / "latest.md").write_text(table)
    print(table)
    return 0
