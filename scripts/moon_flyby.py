"""A simulated moon flyby end to end: kernels, a raw frame, its map and a globe.

Writes synthetic SPICE kernels of a PJ57-like Io flyby (or a PJ34-like Ganymede
one) and a 16-exposure RGB raw frame of a textured, sunlit moon rendered through
them into OUT; maps the frame with the attitude navigated from the whole limb (the
CK is ignored: ``--navigate limb``) and renders the map on the
moon's globe. With ``--docs`` the map and globe also go to docs/images/ (the
README's pictures).

Usage::

    python scripts/moon_flyby.py OUT [--target io|ganymede] [--resolution 0.3]
                                     [--recipe true-color] [--docs]

The same from the command line::

    junocam map OUT/*-raw.png --kernels OUT/kernels --navigate limb -p true-color -o OUT/maps
    junocam globe OUT/maps/<id>-map-equirectangular-true-color.png --view -10,330 \\
        --distance 2.6 -o globe.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from junocam.enhance import epoch_band_weights
from junocam.maps.frame import MapOptions, map_file
from junocam.maps.globe import GlobeView, render_globe
from junocam.maps.store import load_map
from junocam.output import write_png
from junocam.pipeline import Pipeline
from junocam.planet.simkernels import GANYMEDE_FLYBY, IO_FLYBY
from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames

DOCS = Path(__file__).resolve().parent.parent / "docs" / "images"


def _crop_to_data(img: np.ndarray, mask: np.ndarray, pad: int = 8) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, img.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, img.shape[1])
    return img[r0:r1, c0:c1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--target", choices=["io", "ganymede"], default="io")
    ap.add_argument("--resolution", type=float, default=0.3, help="map degrees per pixel")
    ap.add_argument("--recipe", default="true-color", help="map recipe (default true-color)")
    ap.add_argument("--docs", action="store_true", help="also write docs/images/ pictures")
    args = ap.parse_args()
    flyby = IO_FLYBY if args.target == "io" else GANYMEDE_FLYBY
    # band sensitivities as the camera had them at PJ43 (the inverse of the PJ43
    # band weights the colour recipes apply to simulated frames), so the colour is the texture's
    r, g, b = epoch_band_weights(43)
    frame = SimulationSpec(
        n_exposures=16, oversample=1, hot_pixels=0, seed=4, band_gain=(0.35, g / b, 1.0, g / r)
    )
    texture = PlanetTexture.volcanic((720, 1440), seed=7, n_spots=60)
    truth, (png,) = simulate_pass_frames(args.out, flyby, frame=frame, texture=texture)
    print(f"frame {png}, kernels {args.out / 'kernels'}")
    maps = args.out / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    rec = map_file(
        png,
        truth.kernels,
        Pipeline.named(args.recipe),
        MapOptions(maps, "equirectangular", resolution=args.resolution, mode="limb"),
    )
    nav = rec["geometry"]["navigation"]
    print(
        f"navigated without CK: limb RMS {nav['limb_rms_px']:.2f} px ({nav['n_limb']} points), "
        f"turn correction {nav['turn_correction'] * 100:+.2f} %"
    )
    image = Path(rec["outputs"][0])
    print(f"map {image}")
    img, grid, mask = load_map(image)
    view = GlobeView(flyby.sub_lat_deg, flyby.sub_lon_west_deg, 2.6, fov_deg=50.0, size=480)
    globe, _ = render_globe(img, grid, view, mask=mask, background="stars")
    globe_path = args.out / f"globe-{args.target}.png"
    write_png(globe_path, globe, bits=8)
    print(f"globe {globe_path}")
    if args.docs:
        DOCS.mkdir(parents=True, exist_ok=True)
        small = _crop_to_data(img, mask)
        write_png(DOCS / f"map-{args.target}-flyby.png", small, bits=8)
        write_png(DOCS / f"globe-{args.target}-flyby.png", globe, bits=8)
        print(f"wrote {DOCS / f'map-{args.target}-flyby.png'} and the globe next to it")


if __name__ == "__main__":
    main()
