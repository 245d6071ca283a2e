"""CPU time of the naive composite and of the ``raw`` recipe's parts, per real frame.

Targets (a) and (b) of the benchmark runner are ratios of wall times to the I/O
floor (decode the raw PNG + encode the output). On a shared machine wall time
includes waiting for the processor, so this script measures *CPU time*
(``time.process_time``) of the same pieces, the least of ``--repeat`` runs each, in
one process on one core:

- ``decode`` and ``encode`` (the floor, as the runner defines it, without the disk
  write);
- ``naive``: decompand + split + naive band images + offsets + shift + compose (a);
- ``spin_fit``: :func:`junocam.geometry.fit_frame_spin`;
- ``stitch``: :func:`junocam.geometry.stitch_frame` with that fit given;
- ``raw_given_fit``: the ``raw`` recipe run as ``junocam process`` runs it
  (``keep_bands=False``) with the fit given: decompand, stitch, compose, fade;
- ``raw``: ``spin_fit + raw_given_fit`` (b).

The ratios ``(floor + work) / floor`` are printed per frame. Compare two versions of
the package by running this script for each in one sitting (``PYTHONPATH``).

Usage::

    python -m benchmarks.raw_recipe [--repeat 3] [--frames 44C00029,36C00061]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from junocam.companding import decompand  # noqa: E402
from junocam.compose import (  # noqa: E402
    compose_rgb,
    naive_band_images,
    naive_band_offsets,
    shift_bands,
)
from junocam.decode import read_frame  # noqa: E402
from junocam.framelets import split  # noqa: E402
from junocam.geometry import fit_frame_spin, stitch_frame  # noqa: E402
from junocam.output import encode_png, to_uint  # noqa: E402
from junocam.pipeline import Pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: What a frame without metadata is read as (as the benchmark runner reads it).
NO_METADATA_DELAY = 0.371


def cpu_best(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """The last result of ``fn`` and its least CPU time (s) over ``repeat`` runs."""
    best = float("inf")
    out = None
    for _ in range(max(repeat, 1)):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return out, best


def profile_frame(path: Path, repeat: int = 3) -> dict[str, float]:
    """CPU seconds of the floor, the naive chain and the raw recipe's parts of one
    raw PNG, and the two ratios over the floor (``a_naive``, ``b_raw``)."""
    delay = None if read_frame(path).meta.interframe_delay is not None else NO_METADATA_DELAY
    frame, t_decode = cpu_best(lambda: read_frame(path, interframe_delay=delay), repeat)
    meta = frame.meta

    def framelets() -> Any:
        return split(decompand(frame.pixels, meta.companding), meta.filters, meta.framelet_lines)

    def naive() -> Any:
        fr = framelets()
        bands = naive_band_images(fr, photoactive=True)
        offsets = naive_band_offsets(
            bands, interframe_delay=meta.interframe_delay, framelet_lines=fr.framelet_lines
        )
        return compose_rgb(shift_bands(bands, offsets))

    _, t_naive = cpu_best(naive, repeat)
    fr = framelets()
    fit, t_fit = cpu_best(lambda: fit_frame_spin(fr, meta.interframe_delay), repeat)
    _, t_stitch = cpu_best(lambda: stitch_frame(fr, meta.interframe_delay, spin_fit=fit), repeat)
    pipe = Pipeline.named("raw")
    res, t_run = cpu_best(lambda: pipe.run(frame, keep_bands=False, spin_fit=fit), repeat)
    _, t_encode = cpu_best(lambda: encode_png(to_uint(res.rgb, 8), 3), repeat)
    floor = t_decode + t_encode
    out = {
        "decode": t_decode,
        "encode": t_encode,
        "naive": t_naive,
        "spin_fit": t_fit,
        "stitch": t_stitch,
        "raw_given_fit": t_run,
        "raw": t_fit + t_run,
    }
    out["a_naive"] = (floor + t_naive) / floor
    out["b_raw"] = (floor + t_fit + t_run) / floor
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m benchmarks.raw_recipe``)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.raw_recipe", description=__doc__)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "junocam")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames", default="", help="comma list of parts of frame names")
    args = ap.parse_args(argv)
    wanted = [w for w in args.frames.split(",") if w]
    paths = sorted((args.shared / "raw").glob("*/*-raw.png"))
    paths = [p for p in paths if not wanted or any(w in p.name for w in wanted)]
    if not paths:
        print(f"no raw PNG under {args.shared / 'raw'}")
        return 1
    keys = ("decode", "encode", "naive", "spin_fit", "stitch", "raw_given_fit", "raw")
    print("CPU seconds (least of", args.repeat, "runs); ratios (floor + work) / floor")
    print(f"{'frame':<32}" + "".join(f"{k:>14}" for k in keys) + f"{'a_naive':>9}{'b_raw':>8}")
    for p in paths:
        r = profile_frame(p, args.repeat)
        print(
            f"{p.parent.name[:32]:<32}"
            + "".join(f"{r[k]:>14.3f}" for k in keys)
            + f"{r['a_naive']:>8.2f}x{r['b_raw']:>7.2f}x",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
