"""A simulated moon flyby end to end: kernels, a raw frame, its map and a globe.

Writes synthetic SPICE kernels of a PJ57-like Io flyby (or a PJ34-like Ganymede
one) and two 16-exposure RGB raw frames of a textured, sunlit moon rendered through
them into OUT (at mid-pass and two spins later, where the sweep crosses the moon
again); navigates both from the whole limb (the CK is ignored: ``--navigate limb``),
tied to one spin axis (``--alone``: each frame by itself), compares the attitude with
the CK's, maps the first frame and renders the map on the moon's globe. With
``--docs`` the map and globe also go to docs/images/ (the README's pictures).

Usage::

    python scripts/moon_flyby.py OUT [--target io|ganymede] [--resolution 0.3]
                                     [--recipe true-color] [--alone] [--docs]

The same from the command line (``map`` ties the frames of one flyby by itself)::

    junocam map OUT/*-raw.png --kernels OUT/kernels --navigate limb -p true-color -o OUT/maps
    junocam globe OUT/maps/<id>-map-equirectangular-true-color.png --view -10,330 \\
        --distance 2.6 -o globe.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from junocam.decode import read_frame
from junocam.enhance import epoch_band_weights
from junocam.maps.frame import MapOptions, frame_geometry, map_file, tie_flyby_frames
from junocam.maps.globe import GlobeView, render_globe
from junocam.maps.store import load_map
from junocam.output import write_png
from junocam.pipeline import Pipeline
from junocam.planet.pointing import ViewGeometry, view_from_ck
from junocam.planet.simkernels import GANYMEDE_FLYBY, IO_FLYBY, sweep_crossings
from junocam.planet.spice import frame_ephemeris
from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames

DOCS = Path(__file__).resolve().parent.parent / "docs" / "images"


def _crop_to_data(img: np.ndarray, mask: np.ndarray, pad: int = 8) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, img.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, img.shape[1])
    return img[r0:r1, c0:c1]


def _attitude_error(view: ViewGeometry, truth: ViewGeometry) -> tuple[float, float]:
    """Largest angle (degrees) between the two attitudes about the line of sight to
    the body's centre and across it, over the exposures."""
    roll, cross = 0.0, 0.0
    for i in range(view.n_exposures):
        d = view.camera_to_body[i].T @ truth.camera_to_body[i]
        # rotation vector of the small rotation d
        rv = 0.5 * np.array([d[2, 1] - d[1, 2], d[0, 2] - d[2, 0], d[1, 0] - d[0, 1]])
        los = view.camera_to_body[i].T @ -view.observer[i]
        los /= np.linalg.norm(los)
        roll = max(roll, abs(float(rv @ los)))
        cross = max(cross, float(np.linalg.norm(rv - (rv @ los) * los)))
    return float(np.degrees(roll)), float(np.degrees(cross))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--target", choices=["io", "ganymede"], default="io")
    ap.add_argument("--resolution", type=float, default=0.3, help="map degrees per pixel")
    ap.add_argument("--recipe", default="true-color", help="map recipe (default true-color)")
    ap.add_argument("--alone", action="store_true", help="navigate each frame by itself")
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
    offsets = sweep_crossings(args.out / "probe", flyby, (0, 2))
    truth, pngs = simulate_pass_frames(
        args.out, flyby, offsets_s=offsets, frame=frame, texture=texture
    )
    print(f"frames {', '.join(p.name for p in pngs)}, kernels {args.out / 'kernels'}")
    frames = [read_frame(p) for p in pngs]
    geos = [frame_geometry(f, truth.kernels, mode="limb") for f in frames]
    if not args.alone:
        geos = tie_flyby_frames(frames, geos)
    for f, geo in zip(frames, geos, strict=True):
        nav = geo.navigation
        assert nav is not None
        roll, cross = _attitude_error(
            geo.view, view_from_ck(frame_ephemeris(f.meta, truth.kernels))
        )
        print(
            f"{f.meta.product_id}: navigated without CK ({nav.tied_frames} frame(s) on one "
            f"spin axis): limb RMS {nav.limb_rms_px:.2f} px ({nav.n_limb} points), turn "
            f"correction {nav.turn_correction * 100:+.2f} %; against the CK: roll about the "
            f"line of sight {roll:.3f} deg, across it {cross:.3f} deg"
        )
    maps = args.out / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    rec = map_file(
        pngs[0],
        truth.kernels,
        Pipeline.named(args.recipe),
        MapOptions(maps, "equirectangular", resolution=args.resolution, mode="limb"),
        geometry=geos[0],
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
