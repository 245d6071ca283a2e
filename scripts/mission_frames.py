"""The docs' pictures and figures of every real frame with the default recipes.

For every raw PNG under ``../shared/junocam/raw`` (the one without metadata read as
an RGB strip with the nominal interframe delay): the default output (``enhanced``,
``mono`` for single-band frames) into a contact sheet, the share of bright pixels
showing a missing band's colour (:func:`junocam.quality.missing_band_share`) with
and without the coverage handling, and for the methane frames the banding figure
(:func:`junocam.quality.row_banding`) with crops of the naive stack against ``mono``.
Writes ``docs/mission_frames.md`` and images in ``docs/images/``.

Usage (from the repository root)::

    python scripts/mission_frames.py [--data ../shared/junocam] [--docs docs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from junocam.compose import contact_sheet
from junocam.decode import read_frame
from junocam.metadata import Filter
from junocam.output import write_png
from junocam.pipeline import DefaultPipeline, Pipeline
from junocam.quality import missing_band_share, row_banding

BEFORE = [
    'compose.coverage="any"',
    "compose.hide_bleed=false",
]


def crop_pair(a: np.ndarray, b: np.ndarray, centre: tuple[int, int], size: int = 360) -> np.ndarray:
    """Side by side crops of two images of one frame, ``size`` pixels square."""
    y, x = centre

    def cut(img: np.ndarray) -> np.ndarray:
        img = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)
        y0 = int(np.clip(y - size // 2, 0, max(img.shape[0] - size, 0)))
        x0 = int(np.clip(x - size // 2, 0, max(img.shape[1] - size, 0)))
        return img[y0 : y0 + size, x0 : x0 + size]

    left, right = cut(a), cut(b)
    h = min(left.shape[0], right.shape[0])
    gap = np.ones((h, 6, 3), np.float32)
    return np.concatenate([left[:h], gap, right[:h]], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/junocam"))
    ap.add_argument("--docs", type=Path, default=Path("docs"))
    args = ap.parse_args()
    images = args.docs / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows, tiles, labels, banding = [], [], [], []
    for png in sorted((args.data / "raw").glob("*/*-raw.png")):
        frame = read_frame(png, allow_assumed=True)
        pid = frame.meta.product_id
        auto = DefaultPipeline()
        pipeline = auto.for_meta(frame.meta)
        result = pipeline.run(frame)
        share = missing_band_share(result.rgb)
        if len(frame.meta.filters) > 1:
            # before: partial coverage kept, no spill handling, no defringe
            no_defringe = Pipeline(
                [s for s in pipeline.with_overrides(BEFORE).stages if s.name != "defringe"],
                name="before",
            )
            before = missing_band_share(no_defringe.run(frame).rgb)
        else:
            before = share
        rows.append((pid, pipeline.name, ", ".join(f.value for f in frame.meta.filters),
                     "yes" if frame.meta.assumed else "no", before, share))  # fmt: skip
        tiles.append(result.rgb)
        labels.append(f"{pid[5:21]} {pipeline.name}")
        if frame.meta.filters == (Filter.METHANE,):
            naive = Pipeline.named("raw").with_overrides(
                ['stitch.geometry="naive"', 'compose.mode="grey"']
            )
            rn = naive.run(frame)
            b0, b1 = row_banding(rn.rgb, rn.mask), row_banding(result.rgb, result.mask)
            banding.append((pid, b0, b1))
            ys, xs = np.nonzero(result.mask)
            centre = (int(np.median(ys)), int(np.median(xs)))
            write_png(images / f"{pid}-naive-vs-mono.png", crop_pair(rn.rgb, result.rgb, centre))
    sheet = contact_sheet(list(zip(labels, tiles, strict=True)), width=300)
    write_png(images / "real-frames-contact.png", sheet)
    md = [
        "# Every real frame with the default recipes",
        "",
        "Regenerate with `python scripts/mission_frames.py` (reads `../shared/junocam/raw`).",
        "",
        "![contact sheet of every real frame](images/real-frames-contact.png)",
        "",
        "## Colour only where every band has data",
        "",
        "Share of bright pixels (strongest channel >= 0.1) whose weakest channel is under 8% of",
        "the strongest (`junocam.quality.missing_band_share`). *Before*: the same recipe with",
        "partial coverage kept (`compose.coverage=any`), no spill handling and no `defringe`.",
        "",
        "| frame | recipe | filters | assumed metadata | before | after |",
        "|---|---|---|---|---|---|",
    ]
    for pid, recipe, filters, assumed, before, share in rows:
        md.append(
            f"| {pid} | `{recipe}` | {filters} | {assumed} | {100 * before:.3f}% | "
            f"{100 * share:.3f}% |"
        )
    md += [
        "",
        "## Single-band frames: banding",
        "",
        "`junocam.quality.row_banding`: RMS of the row profile's line-to-line jumps over the",
        "disc, relative to its level (framelet joins and line stripes; lower is better).",
        "",
        "| frame | naive stack | `mono` |",
        "|---|---|---|",
    ]
    for pid, b0, b1 in banding:
        md.append(f"| {pid} | {b0:.4f} | {b1:.4f} |")
    md.append("")
    for pid, _, _ in banding:
        md += [
            f"![{pid}: naive stack (left) and mono (right)](images/{pid}-naive-vs-mono.png)",
            "",
            f"*{pid}, full resolution: the naive stack (left) and `mono` (right).*",
            "",
        ]
    (args.docs / "mission_frames.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
