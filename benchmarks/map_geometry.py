"""Time the planet-geometry steps of ``junocam map`` on the real frames.

For every PJ43/PJ44 frame in ../shared/junocam/raw: SPICE ephemeris of all exposures,
the spin self-calibration, limb navigation, grid choice and the projection of every
band onto the map (median of ``--repeat`` runs each, one process, one core), written
to ``benchmarks/results/map_geometry.json`` and ``.md``.

Usage::

    python -m benchmarks.map_geometry [--shared ../shared/junocam] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from junocam.decode import read_frame  # noqa: E402
from junocam.errors import JunoCamError  # noqa: E402
from junocam.geometry import fit_frame_spin  # noqa: E402
from junocam.maps.frame import linear_framelets  # noqa: E402
from junocam.planet.navigate import navigate  # noqa: E402
from junocam.planet.projection import map_grid_for, project_frame  # noqa: E402
from junocam.planet.spice import KernelSet, frame_ephemeris  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def _bench(folder: Path, kernels: KernelSet, repeat: int) -> dict[str, object]:
    frame = read_frame(next(folder.glob("*.png")))
    fl = linear_framelets(frame)
    eph, t_eph = _timed(lambda: frame_ephemeris(frame.meta, kernels), repeat)
    fit, t_fit = _timed(lambda: fit_frame_spin(fl, frame.meta.interframe_delay), 1)
    try:
        nav, t_nav = _timed(lambda: navigate(fl, eph, fit.spin, fit.camera), repeat)
    except JunoCamError as err:
        return {"frame": frame.meta.product_id, "error": err.message}
    grid, t_grid = _timed(lambda: map_grid_for(nav.view, "polar"), repeat)
    _, t_proj = _timed(lambda: project_frame(fl, nav.view, grid), repeat)
    n_framelets = frame.meta.n_exposures * len(frame.meta.filters)
    row = {
        "frame": frame.meta.product_id,
        "exposures": frame.meta.n_exposures,
        "map_pixels": grid.shape[0] * grid.shape[1],
        "ephemeris_s": round(t_eph, 3),
        "spin_fit_s": round(t_fit, 2),
        "navigation_s": round(t_nav, 2),
        "grid_s": round(t_grid, 3),
        "projection_s": round(t_proj, 2),
        "per_framelet_ms": round(1000 * (t_eph + t_nav + t_proj) / n_framelets, 1),
    }
    print(row)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "junocam")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    k = args.shared / "kernels"
    kernels = KernelSet.from_path(
        [k / "kmgill_spk_2022_pj43_pj44", k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"]
    )
    rows = [
        _bench(folder, kernels, args.repeat)
        for folder in sorted((args.shared / "raw").glob("JNCE_2022*C*"))
    ]
    cpu = platform.processor() or platform.machine()
    machine = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "map_geometry.json").write_text(
        json.dumps({"machine": machine, "rows": rows}, indent=2)
    )
    lines = [
        f"Machine: {machine}. Polar map at the frame's native resolution; "
        f"medians of {args.repeat} runs.",
        "",
        "| frame | exposures | map px | ephemeris s | spin fit s | navigation s | projection s "
        "| ms per framelet (ephemeris + navigation + projection) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['frame']} | failed: {r['error']} | | | | | | |")
            continue
        lines.append(
            f"| {r['frame']} | {r['exposures']} | {r['map_pixels']} | {r['ephemeris_s']} | "
            f"{r['spin_fit_s']} | {r['navigation_s']} | {r['projection_s']} | "
            f"{r['per_framelet_ms']} |"
        )
    (args.out / "map_geometry.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
