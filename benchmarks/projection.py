"""The map projection of every real frame: exact against interpolating (issue 18 f).

For every raw frame in ../shared/junocam/raw that the README's kernels cover, the
geometry is made as ``junocam map`` makes it (spin fit, CK or navigation), then
:func:`junocam.planet.projection.project_frame` projects the decompanded framelets
onto the orthographic grid ``junocam map`` would choose, exactly
(``interpolate=False``) and with the geometry interpolated over blocks
(``interpolate=True``, what ``junocam map`` uses). Reported: the CPU seconds of each
(the least of ``--repeat`` runs; CPU time is the figure to compare on a shared
machine) and the interpolation error in framelet pixels, measured with framelets
whose values are their own sample (or line) coordinate: bilinear sampling of such a
ramp returns the coordinate, so two maps differ by the difference of their inverse
mappings. The error is measured on three exposures (a quarter, half and three
quarters through the frame), one at a time, every band.

Usage::

    python -m benchmarks.projection [--repeat 2] [--frames 44C00029,43C00080]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks.runner import SHARED_RAW, map_kernels  # noqa: E402
from junocam.decode import read_frame  # noqa: E402
from junocam.errors import JunoCamError  # noqa: E402
from junocam.framelets import PHOTOACTIVE_SAMPLES, Framelets  # noqa: E402
from junocam.maps.frame import frame_geometry, linear_framelets  # noqa: E402
from junocam.planet.pointing import ViewGeometry  # noqa: E402
from junocam.planet.projection import MapGrid, map_grid_for, project_frame  # noqa: E402


def _cpu(
    framelets: Framelets, view: ViewGeometry, grid: MapGrid, interpolate: bool, repeat: int
) -> float:
    """The least CPU seconds of ``repeat`` projections."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        project_frame(framelets, view, grid, interpolate=interpolate)
        best = min(best, time.process_time() - t)
    return best


def _ramps(framelets: Framelets, axis: str) -> Framelets:
    lines, samples = framelets.framelet_lines, 1648
    if axis == "sample":
        one = np.broadcast_to(np.arange(samples, dtype=np.float32)[None, :], (lines, samples))
    else:
        one = np.broadcast_to(np.arange(lines, dtype=np.float32)[:, None], (lines, samples))
    n_bands = len(framelets.filters)
    data = np.ascontiguousarray(np.broadcast_to(one, (1, n_bands, lines, samples)))
    return Framelets(data, tuple(framelets.filters))


def interpolation_error(
    framelets: Framelets, view: ViewGeometry, grid: MapGrid
) -> tuple[float, float, int, int]:
    """(max, RMS) difference in framelet pixels between the interpolated and the exact
    inverse mapping, the pixel-samples compared, and the pixels whose coverage differs."""
    n = view.n_exposures
    worst, sq, count, coverage = 0.0, 0.0, 0, 0
    for i in sorted({n // 4, n // 2, (3 * n) // 4}):
        keep = slice(i, i + 1)
        one = ViewGeometry(
            view.camera, view.observer[keep], view.camera_to_body[keep], view.sun[keep], view.body
        )
        for axis in ("sample", "line"):
            ramps = _ramps(framelets, axis)
            exact = project_frame(ramps, one, grid)
            fast = project_frame(ramps, one, grid, interpolate=True)
            for b in ramps.filters:
                both = exact.masks[b] & fast.masks[b]
                if axis == "sample":  # the clamped edges of the ramp aside
                    both &= (exact.bands[b] > 24) & (exact.bands[b] < PHOTOACTIVE_SAMPLES)
                d = np.abs(exact.bands[b][both].astype(np.float64) - fast.bands[b][both])
                worst = max(worst, float(d.max(initial=0.0)))
                sq += float((d * d).sum())
                count += int(both.sum())
                coverage += int((exact.masks[b] != fast.masks[b]).sum())
    return worst, (sq / max(count, 1)) ** 0.5, count, coverage


def main(argv: list[str] | None = None) -> int:
    """Print one markdown row per frame."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--frames", default="", help="comma list of parts of frame names")
    args = ap.parse_args(argv)
    kernels = map_kernels()
    if kernels is None:
        print("no kernels (or no spiceypy): nothing to project")
        return 1
    wanted = [w for w in args.frames.split(",") if w]
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    print(
        "| frame | grid | exact CPU s | interpolating CPU s | speed-up "
        "| max error px | RMS error px | coverage differs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for folder in sorted(SHARED_RAW.iterdir()):
        if wanted and not any(w in folder.name for w in wanted):
            continue
        pngs = sorted(folder.glob("*.png"))
        if not pngs:
            continue
        try:
            frame = read_frame(pngs[0])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                geo = frame_geometry(frame, kernels)
        except JunoCamError as err:
            print(f"| {folder.name} | not mapped: {err} | | | | | | |")
            continue
        framelets = linear_framelets(frame)
        grid = map_grid_for(geo.view, "orthographic", bands=frame.meta.filters)
        exact = _cpu(framelets, geo.view, grid, False, args.repeat)
        fast = _cpu(framelets, geo.view, grid, True, args.repeat)
        worst, rms, count, coverage = interpolation_error(framelets, geo.view, grid)
        print(
            f"| {folder.name} | {grid.shape[1]} x {grid.shape[0]} | {exact:.2f} | {fast:.2f} "
            f"| {exact / fast:.2f}x | {worst:.4f} | {rms:.4f} | {coverage} of {count} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
