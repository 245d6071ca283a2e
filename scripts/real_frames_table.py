"""Measure the geometry on every real frame and write a Markdown table and images.

For each raw frame with metadata under ``../shared/junocam/raw`` (or ``--data``):
decompand, remove the fixed CCD pattern (as the processing recipes do), self-
calibrate the spin and stitch on the spin-cylinder grid
(:func:`junocam.geometry.stitch_frame`), then report

* the nominal and fitted turn per exposure and spin rate, and the fitted axis tilt;
* the spin fit's own residuals: band registration and seams (pixels), overlap
  measurements and outliers, and whether it fell back to the nominal spin;
* an independent band-registration figure: phase-correlation shifts between the
  stitched bands (green vs red, green vs blue), patch by patch over covered,
  textured, unsaturated pixels (:func:`junocam.quality.patch_shifts`), with the same
  figure for the naive composite for comparison.

The table goes to ``docs/real_frames.md`` and a side-by-side crop (naive stack on
the left, stitched on the right, full resolution) of each frame to
``docs/images/<product_id>-naive-vs-stitched.png``.

Usage (from the repository root)::

    python scripts/real_frames_table.py [--data ../shared/junocam] [--docs docs]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from junocam.calibrate import remove_fixed_pattern
from junocam.companding import decompand
from junocam.compose import compose_rgb, naive_band_images, naive_band_offsets, shift_bands
from junocam.decode import find_metadata, read_frame
from junocam.framelets import DARK_SAMPLES, Framelets, split
from junocam.geometry import SATURATION_CODE, GeometryOptions, StitchedFrame, stitch_frame
from junocam.metadata import Filter
from junocam.output import write_png
from junocam.quality import PatchShifts, patch_shifts
from junocam.stitch import brightness_centroid

REPO = Path(__file__).resolve().parent.parent
PAIRS = ((Filter.GREEN, Filter.RED), (Filter.GREEN, Filter.BLUE))
RPM = 60.0 / (2.0 * math.pi)


@dataclass
class FrameReport:
    """Everything measured on one frame.

    Attributes
    ----------
    row : dict
        The table's values (see :data:`COLUMNS`).
    stitched : StitchedFrame
        The stitched bands and the spin fit.
    naive : dict of Filter -> numpy.ndarray
        The naive band images, aligned on one canvas (NaN where uncovered).
    naive_offset : (int, int)
        Where the naive reference band's (0, 0) sits on the naive canvas.
    framelets : Framelets
        The linear framelets that were stitched.
    """

    row: dict[str, Any]
    stitched: StitchedFrame
    naive: dict[Filter, np.ndarray]
    naive_offset: tuple[int, int]
    framelets: Framelets
    extra: dict[str, Any] = field(default_factory=dict)


def find_frames(data: Path) -> list[Path]:
    """Raw PNGs under ``data/raw`` whose metadata JSON is found beside them.

    Examples
    --------
    >>> find_frames(Path("/nonexistent"))
    []
    """
    frames = []
    for png in sorted((data / "raw").glob("*/*-raw.png")):
        if find_metadata(png) is not None:
            frames.append(png)
    return frames


def _reference(filters: Sequence[Filter]) -> Filter:
    for f in (Filter.GREEN, Filter.RED, Filter.BLUE, Filter.METHANE):
        if f in filters:
            return f
    return filters[0]


def _shift_figure(ps: PatchShifts) -> str:
    return "none" if ps.n == 0 else f"{ps.rms:.2f} / {ps.median:.2f} ({ps.n})"


def measure_frame(png: Path, *, clean: bool = True) -> FrameReport:
    """Stitch one real frame and measure its geometry.

    Parameters
    ----------
    png : pathlib.Path
        A website ``-raw.png`` with its metadata beside it.
    clean : bool
        Remove the fixed CCD pattern (hot pixels, TDI streaks) first, as the
        processing recipes do.

    Returns
    -------
    FrameReport
        ``row`` holds plain numbers (radians, rpm, pixels) and the formatted
        registration figures.
    """
    raw = read_frame(png)
    meta = raw.meta
    fr = split(decompand(raw.pixels, meta.companding), meta.filters, meta.framelet_lines)
    if clean:
        data = np.stack(
            [remove_fixed_pattern(fr.data[:, k]) for k in range(len(fr.filters))], axis=1
        )
        fr = Framelets(np.asarray(data, np.float32), fr.filters)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = stitch_frame(fr, meta.interframe_delay, GeometryOptions(grid="cylinder"))
    seconds = time.perf_counter() - t0
    fit = out.fit
    delay = float(meta.interframe_delay or 0.372)
    saturation = float(decompand(np.array([SATURATION_CODE], np.uint8), "SQROOT")[0])

    # independent registration: stitched bands, covered, unsaturated, textured patches
    res = out.result
    covered = np.logical_and.reduce([res.masks[b] for b in fr.filters])
    unsaturated = np.logical_and.reduce([res.bands[b] < saturation for b in fr.filters])
    usable = covered & unsaturated

    naive = naive_band_images(fr, photoactive=True)
    offsets = naive_band_offsets(naive, interframe_delay=meta.interframe_delay)
    aligned = shift_bands(naive, offsets)
    naive_ok = np.logical_and.reduce(
        [np.isfinite(aligned[b]) & (aligned[b] < saturation) for b in fr.filters]
    )
    ref = _reference(fr.filters)
    y0 = min(o[0] for o in offsets.values())
    x0 = min(o[1] for o in offsets.values())
    naive_offset = (offsets[ref][0] - y0, offsets[ref][1] - x0)

    row: dict[str, Any] = {
        "product_id": meta.product_id,
        "title": meta.title or "",
        "bands": ",".join(f.value for f in fr.filters),
        "exposures": fr.n_exposures,
        "nominal_turn_rad": fit.nominal.turn_per_exposure,
        "turn_rad": fit.spin.turn_per_exposure,
        "nominal_rpm": fit.nominal.spin_rate(delay) * RPM,
        "rpm": fit.spin.spin_rate(delay) * RPM,
        "turn_change_pct": (fit.spin.turn_per_exposure / fit.nominal.turn_per_exposure - 1) * 100,
        "tilt_y_mrad": fit.spin.tilt_y * 1e3,
        "tilt_z_mrad": fit.spin.tilt_z * 1e3,
        "band_registration_px": fit.band_registration_px,
        "seam_px": fit.seam_rms_px,
        "residual_px": fit.residual_rms_px,
        "measurements": fit.n_measurements,
        "outliers": fit.n_outliers,
        "fallback": fit.fallback,
        "fit_seconds": seconds,
        "warnings": [str(w.message) for w in caught],
    }
    for a, b in PAIRS:
        key = f"{b.value.lower()}_vs_{a.value.lower()}"
        if a in fr.filters and b in fr.filters:
            st = patch_shifts(res.bands[a], res.bands[b], usable, step=64)
            nv = patch_shifts(aligned[a], aligned[b], naive_ok, step=64)
            row[f"stitched_{key}_px"] = st.rms
            row[f"stitched_{key}_median_px"] = st.median
            row[f"stitched_{key}_patches"] = st.n
            row[f"naive_{key}_px"] = nv.rms
            row[f"naive_{key}_patches"] = nv.n
            row[f"stitched_{key}"] = _shift_figure(st)
            row[f"naive_{key}"] = _shift_figure(nv)
        else:
            row[f"stitched_{key}"] = row[f"naive_{key}"] = "n/a"
    return FrameReport(row, out, aligned, naive_offset, fr)


def _fmt(v: Any, spec: str = ".3f") -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else format(v, spec)
    return str(v)


#: (header, row key, format) of the Markdown table.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("product", "product_id", ""),
    ("bands", "bands", ""),
    ("exp.", "exposures", ""),
    ("nominal turn (rad)", "nominal_turn_rad", ".6f"),
    ("fitted turn (rad)", "turn_rad", ".6f"),
    ("change", "turn_change_pct", "+.2f"),
    ("nominal rpm", "nominal_rpm", ".4f"),
    ("fitted rpm", "rpm", ".4f"),
    ("tilt y, z (mrad)", "tilt", ""),
    ("fit band reg. (px)", "band_registration_px", ".2f"),
    ("fit seam (px)", "seam_px", ".2f"),
    ("meas. / outl.", "meas", ""),
    ("fallback", "fallback", ""),
    ("stitched R vs G (RMS / median px, patches)", "stitched_red_vs_green", ""),
    ("stitched B vs G", "stitched_blue_vs_green", ""),
    ("naive R vs G", "naive_red_vs_green", ""),
    ("naive B vs G", "naive_blue_vs_green", ""),
)


def table_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of :data:`COLUMNS` for measured rows.

    Examples
    --------
    >>> row = {"product_id": "X", "bands": "METHANE", "exposures": 2, "nominal_turn_rad": 0.078,
    ...        "turn_rad": 0.078, "turn_change_pct": 0.0, "nominal_rpm": 2.0, "rpm": 2.0,
    ...        "tilt_y_mrad": 2.2, "tilt_z_mrad": -2.2, "band_registration_px": float("nan"),
    ...        "seam_px": 0.3, "measurements": 9, "outliers": 1, "fallback": False,
    ...        "stitched_red_vs_green": "n/a", "stitched_blue_vs_green": "n/a",
    ...        "naive_red_vs_green": "n/a", "naive_blue_vs_green": "n/a"}
    >>> print(table_markdown([row]).splitlines()[2][:60])
    | X | METHANE | 2 | 0.078000 | 0.078000 | +0.00 | 2.0000 | 2.
    """
    lines = [
        "| " + " | ".join(h for h, _, _ in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for r in rows:
        cells = []
        for _, key, spec in COLUMNS:
            if key == "tilt":
                cells.append(f"{r['tilt_y_mrad']:+.2f}, {r['tilt_z_mrad']:+.2f}")
            elif key == "meas":
                cells.append(f"{r['measurements']} / {r['outliers']}")
            else:
                cells.append(_fmt(r[key], spec) if spec else _fmt(r[key]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# side-by-side images


def _to_naive(report: FrameReport, r: float, c: float) -> tuple[float, float]:
    """Naive-canvas position of stitched-grid pixel (r, c), through the reference band."""
    res = report.stitched.result
    band = _reference(report.framelets.filters)
    ray = res.grid.rays_at(np.array(r), np.array(c))
    cam = report.stitched.fit.camera
    if cam is None:
        from junocam.camera import CameraModel

        cam = CameraModel()
    lines = report.framelets.framelet_lines
    best: tuple[float, float] | None = None
    for i in range(report.framelets.n_exposures):
        s, ln = cam.ray_to_pixel(ray @ res.spin.rotation(i), band)
        s, ln = float(s), float(ln)
        if 0 <= ln <= lines - 1 and (best is None or abs(ln - 63.5) < abs(best[0] % lines - 63.5)):
            best = (i * lines + ln, s - DARK_SAMPLES)
    if best is None:
        raise ValueError("the crop centre is not seen by any framelet")
    return best[0] + report.naive_offset[0], best[1] + report.naive_offset[1]


def _crop(img: np.ndarray, r: float, c: float, size: int) -> np.ndarray:
    """``size`` x ``size`` crop centred near (r, c), shifted to stay inside ``img``."""
    h, w = img.shape[:2]
    r0 = int(round(min(max(r - size / 2, 0), max(h - size, 0))))
    c0 = int(round(min(max(c - size / 2, 0), max(w - size, 0))))
    out = np.zeros((size, size) + img.shape[2:], img.dtype)
    part = img[r0 : r0 + size, c0 : c0 + size]
    out[: part.shape[0], : part.shape[1]] = part
    return out


def side_by_side(report: FrameReport, size: int = 360, gap: int = 8) -> np.ndarray:
    """Naive (left) and stitched (right) crops of the same sky, RGB float in [0, 1].

    Both are composed the same way (per-band white point, gamma 2), at full
    resolution, and show only pixels that every band covers; the crop is centred on
    the target's brightness centroid (the naive crop on the same sky position, via
    the reference band's framelets).
    """
    res = report.stitched.result
    ref = _reference(report.framelets.filters)
    # only where every band is seen, so coverage edges do not look like fringes
    covered = np.logical_and.reduce([res.masks[b] for b in res.bands])
    bands = {b: np.where(covered, img, np.nan).astype(np.float32) for b, img in res.bands.items()}
    seen = np.logical_and.reduce([np.isfinite(img) for img in report.naive.values()])
    naive = {b: np.where(seen, img, np.nan) for b, img in report.naive.items()}
    r, c, _ = brightness_centroid(np.where(covered, res.bands[ref], 0.0), covered)
    stitched_rgb = compose_rgb(bands, normalize="per-band", percentile=99.5, gamma=2.0)
    naive_rgb = compose_rgb(naive, normalize="per-band", percentile=99.5, gamma=2.0)
    nr, nc = _to_naive(report, r, c)
    left = _crop(naive_rgb, nr, nc, size)
    right = _crop(stitched_rgb, r, c, size)
    sheet = np.ones((size, 2 * size + gap, 3), np.float32)
    sheet[:, :size] = left
    sheet[:, size + gap :] = right
    return sheet


# ---------------------------------------------------------------------------


def _summary(rows: Sequence[dict[str, Any]]) -> list[str]:
    fitted = [r for r in rows if not r["fallback"]]
    reg = [
        r[f"stitched_{k}_px"]
        for r in fitted
        for k in ("red_vs_green", "blue_vs_green")
        if f"stitched_{k}_px" in r and math.isfinite(r[f"stitched_{k}_px"])
    ]
    naive = [
        r[f"naive_{k}_px"]
        for r in rows
        for k in ("red_vs_green", "blue_vs_green")
        if f"naive_{k}_px" in r and math.isfinite(r[f"naive_{k}_px"])
    ]
    out = [
        f"- Frames measured: {len(rows)}; spin fitted on {len(fitted)}, nominal kept "
        f"(fallback) on {len(rows) - len(fitted)}.",
    ]
    if fitted:
        ch = [r["turn_change_pct"] for r in fitted]
        out.append(
            f"- Fitted turn per exposure: {min(ch):+.2f}% to {max(ch):+.2f}% vs the nominal "
            f"2 rpm ({min(r['rpm'] for r in fitted):.4f} to "
            f"{max(r['rpm'] for r in fitted):.4f} rpm)."
        )
        bandreg = [
            r["band_registration_px"] for r in fitted if math.isfinite(r["band_registration_px"])
        ]
        seams = [r["seam_px"] for r in fitted if math.isfinite(r["seam_px"])]
        if bandreg:
            out.append(
                f"- Spin-fit band registration residual: {min(bandreg):.2f} to "
                f"{max(bandreg):.2f} px; seam residual {min(seams):.2f} to {max(seams):.2f} px."
            )
    if reg:
        out.append(
            f"- Independent band registration of the stitched bands (RMS of patch shifts): "
            f"{min(reg):.2f} to {max(reg):.2f} px; naive composite: "
            f"{min(naive):.1f} to {max(naive):.1f} px."
        )
    return out


HEADER = """# Geometry on the real frames

Generated by `python scripts/real_frames_table.py` from every raw frame with metadata in
`../shared/junocam/raw` (not part of the repository). Each frame is decompanded, its fixed
CCD pattern removed, its spin self-calibrated from the framelet overlaps and its bands
stitched onto the spin-cylinder grid (`junocam.geometry.stitch_frame`).

Columns:

- *nominal / fitted turn*: camera turn between exposures (radians), from the nominal 2 rpm
  and as fitted; *change*: fitted vs nominal in percent; *rpm*: the implied spin rates.
- *tilt y, z*: fitted spin-axis tilt in the camera frame (milliradians; the frames kernel
  gives +2.25, -2.21).
- *fit band reg.* and *fit seam*: RMS overlap shifts left after the spin fit, between
  framelets of different bands and of the same band (pixels); *meas. / outl.*: overlap
  measurements used and left out as outliers; *fallback*: nominal spin kept (too little
  structure).
- *stitched R vs G*, *B vs G*: an independent check. The stitched red (blue) image is
  phase-correlated with the stitched green image in 128 x 128 patches, half overlapping
  (covered, textured, unsaturated pixels only; `junocam.quality.patch_shifts`): RMS and
  median length of the patch shifts in pixels, and the number of patches. *naive*: the
  same figure for the naive composite (stacked framelets, bands shifted by whole pixels),
  i.e. its colour fringes.

"""


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every frame, write the table and the side-by-side images."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "junocam")
    ap.add_argument("--docs", type=Path, default=REPO / "docs")
    ap.add_argument("--size", type=int, default=360, help="crop size of each side, pixels")
    ap.add_argument("--no-clean", action="store_true", help="skip fixed-pattern removal")
    args = ap.parse_args(argv)
    frames = find_frames(args.data)
    if not frames:
        print(f"no raw frames with metadata under {args.data / 'raw'}", file=sys.stderr)
        return 1
    images = args.docs / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for png in frames:
        report = measure_frame(png, clean=not args.no_clean)
        rows.append(report.row)
        target = images / f"{report.row['product_id']}-naive-vs-stitched.png"
        write_png(target, side_by_side(report, args.size), compress_level=9)
        print(
            f"{report.row['product_id']}: turn {report.row['turn_change_pct']:+.3f}%, "
            f"fit {report.row['fit_seconds']:.0f} s, R/G {report.row['stitched_red_vs_green']}, "
            f"B/G {report.row['stitched_blue_vs_green']} -> {target}"
        )
    text = HEADER + table_markdown(rows) + "\nSummary:\n\n" + "\n".join(_summary(rows)) + "\n"
    notes = [f"- {r['product_id']}: {w}" for r in rows for w in r["warnings"]]
    if notes:
        text += "\nWarnings:\n\n" + "\n".join(notes) + "\n"
    text += "\nSide by side, naive (left) and stitched (right), full resolution:\n\n"
    for r in rows:
        name = f"{r['product_id']}-naive-vs-stitched.png"
        text += f"- {r['product_id']} ({r['title']}): ![{r['product_id']}](images/{name})\n"
    (args.docs / "real_frames.md").write_text(text, encoding="utf-8")
    print(f"wrote {args.docs / 'real_frames.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
