"""Write a simulated Juno pass: synthetic SPICE kernels and raw frames of a textured Jupiter.

The kernels (LSK, PCK, FK, SCLK, SPK, CK) go to OUT/kernels, the frames
(``-raw.png`` + JSON) to OUT. Frames are one spin period (plus a few seconds) apart,
so each sweeps Jupiter further along; the second is exposed 1.3 times longer than
the first, for the mosaic's gain matching.

Usage::

    python scripts/simulated_pass.py OUT [--frames 3]
    junocam mosaic OUT/*-raw.png --kernels OUT/kernels --projection equirectangular -o maps/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from junocam.simulate import simulate_pass_frames

PERIOD = 60.0 / 1.99  # s, the synthetic pass spins at 1.99 rpm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=3)
    args = ap.parse_args()
    offsets = tuple(k * (PERIOD + 1.5) for k in range(args.frames))
    gains = tuple(1.3 if k == 1 else 1.0 for k in range(args.frames))
    truth, paths = simulate_pass_frames(args.out, offsets_s=offsets, gains=gains)
    for p in paths:
        print(p)
    print(f"kernels: {args.out / 'kernels'}")


if __name__ == "__main__":
    main()
