"""The target's geometry: bodies as spheroids, photometric laws, SPICE, pointing,
navigation, map grids and projection.

This part sits below the pipeline (its photometry stage and the map projection use
it) and above the image chain (it uses the camera model, the spin and the
framelets). Nothing here imports the pipeline, the map products or the CLI.

Modules
-------
spheroid
    The body as an oblate spheroid: ray intersection, normals, planetographic
    coordinates (pure numpy).
photometry
    Incidence, emission and phase angles, backplanes and photometric laws.
spice
    The only module that talks to NAIF SPICE (the optional ``spiceypy``).
pointing
    Per-exposure camera geometry from a CK or from a fitted pointing.
navigate
    Pointing fitted to the limb and terminator.
projection
    Map grids (equirectangular, polar, orthographic) and the inverse-mapping
    projection of framelets onto them.
viewstitch
    The stitcher's grid rendered from each exposure's own position (close flybys).
simkernels
    Synthetic SPICE kernels for closed-loop tests.

Examples
--------
>>> import numpy as np
>>> from junocam.planet import JUPITER, intersect
>>> hit, ok = intersect(np.array([2e5, 0.0, 0.0]), np.array([[-1.0, 0.0, 0.0]]), JUPITER)
>>> bool(ok[0]), round(float(hit[0, 0]), 6)
(True, 71492.0)
"""

from __future__ import annotations

from .photometry import (
    PHOTOMETRIC_MODELS,
    Backplanes,
    backplanes,
    photometric_angles,
    photometric_factor,
)
from .spheroid import (
    JUPITER,
    Ellipsoid,
    intersect,
    limb_miss,
    planetographic,
    surface_normal,
    surface_point,
)
from .targets import JUPITER_TARGET, TARGETS, Target, target_named, target_of

__all__ = [
    "Ellipsoid",
    "JUPITER",
    "intersect",
    "surface_normal",
    "planetographic",
    "surface_point",
    "photometric_angles",
    "limb_miss",
    "Backplanes",
    "backplanes",
    "photometric_factor",
    "PHOTOMETRIC_MODELS",
    "Target",
    "TARGETS",
    "JUPITER_TARGET",
    "target_named",
    "target_of",
]
