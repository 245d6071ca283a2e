"""Time the spin self-calibration of every real frame, phase by phase.

For every frame in ../shared/junocam/raw with metadata (and the one without, read as
RGB at 0.37 s), the fit of :func:`junocam.geometry.fit_frame_spin` is run ``--repeat``
times in this process on one core; the run with the least CPU time is reported with
its wall time and its phases: preparation of the framelets, each matching round
(pyramid level, blocks measured), the model solves, and the rest. CPU time is the
figure to compare on a shared machine (wall time there includes waiting for the
processor); compare versions by running both in one sitting.

Usage::

    python -m benchmarks.spin_fit [--shared ../shared/junocam] [--repeat 3] [--frames 44C00029]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import junocam.spinfit as spinfit  # noqa: E402
from junocam.companding import decompand  # noqa: E402
from junocam.decode import read_frame  # noqa: E402
from junocam.framelets import Framelets, split  # noqa: E402
from junocam.geometry import fit_frame_spin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: What a frame without metadata is read as (the tests' assumption for 36C00061).
NO_METADATA_DELAY = 0.37

_PHASES = {"prepare": "prepare", "match_blocks": "match", "_solve": "solve"}


@contextmanager
def _phase_clock(log: list[tuple[str, float, float, str]]) -> Iterator[None]:
    """Record (phase, wall s, CPU s, note) of spinfit's calls to its phases."""
    saved = {name: getattr(spinfit, name) for name in _PHASES}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            note = ""
            if name == "match_blocks":
                note = f"level {kwargs.get('level', 1)}: {len(out)} blocks"
            log.append((_PHASES[name], time.perf_counter() - w, time.process_time() - c, note))
            return out

        return run

    try:
        for name, fn in saved.items():
            setattr(spinfit, name, timed(name, fn))
        yield
    finally:
        for name, fn in saved.items():
            setattr(spinfit, name, fn)


def profile_fit(framelets: Framelets, interframe_delay: float, repeat: int = 3) -> dict[str, Any]:
    """The fit's phases, from the run of ``repeat`` with the least CPU time.

    Returns a dict with ``wall_s``, ``cpu_s``, ``phases`` (list of (name, wall s,
    CPU s, note), ``other`` for what lies between them) and the fit's ``message``.

    Examples
    --------
    >>> import numpy as np
    >>> fr = split(np.zeros((3 * 384, 1648), np.float32), ["BLUE", "GREEN", "RED"])
    >>> p = profile_fit(fr, 0.372, repeat=1)
    >>> p["phases"][0][0], p["cpu_s"] >= 0
    ('prepare', True)
    """
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        log: list[tuple[str, float, float, str]] = []
        with _phase_clock(log), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w, c = time.perf_counter(), time.process_time()
            fit = fit_frame_spin(framelets, interframe_delay)
            wall, cpu = time.perf_counter() - w, time.process_time() - c
        other = (
            "other",
            wall - sum(p[1] for p in log),
            cpu - sum(p[2] for p in log),
            "pairs, grids, bookkeeping",
        )
        run = {"wall_s": wall, "cpu_s": cpu, "phases": [*log, other], "message": fit.message}
        if best is None or cpu < best["cpu_s"]:
            best = run
    assert best is not None
    return best


def _frames(shared: Path, only: list[str]) -> Iterator[tuple[str, Framelets, float]]:
    for folder in sorted((shared / "raw").iterdir()):
        pngs = sorted(folder.glob("*-raw.png"))
        if not pngs or (only and not any(k in folder.name for k in only)):
            continue
        frame = read_frame(pngs[0])
        meta = frame.meta
        fr = split(decompand(frame.pixels, meta.companding), meta.filters, meta.framelet_lines)
        yield folder.name, fr, meta.interframe_delay or NO_METADATA_DELAY


def main(argv: list[str] | None = None) -> None:
    """Print a table of the fit's phases for every real frame."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "junocam")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames", nargs="*", default=[], help="substrings of frame names")
    args = ap.parse_args(argv)
    print("| frame | phase | wall s | CPU s | note |")
    print("|---|---|---:|---:|---|")
    for name, fr, delay in _frames(args.shared, args.frames):
        p = profile_fit(fr, delay, args.repeat)
        print(f"| {name} | **fit** | {p['wall_s']:.3f} | {p['cpu_s']:.3f} | {p['message']} |")
        for phase, wall, cpu, note in p["phases"]:
            print(f"| | {phase} | {wall:.3f} | {cpu:.3f} | {note} |")


if __name__ == "__main__":
    main()
