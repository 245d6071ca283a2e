"""``junocam.planet.viewstitch``: the stitch rendered from each exposure's position.

Without parallax (the spacecraft standing still, its attitude turning like the spin
model) the rendering must be the plain spin stitch; the reference viewpoint
interpolates position and attitude between exposures.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from junocam.camera import CameraModel
from junocam.framelets import Framelets
from junocam.metadata import Filter
from junocam.planet import Ellipsoid, intersect
from junocam.planet.pointing import ViewGeometry, small_rotation
from junocam.planet.viewstitch import reference_view, rotation_vector, stitch_from_view
from junocam.spin import SpinModel
from junocam.stitch import CylinderGrid, PerspectiveGrid, stitch


def _frame(n: int = 4, seed: int = 1) -> Framelets:
    rng = np.random.default_rng(seed)
    data = ndimage.gaussian_filter(rng.random((n, 2, 128, 1648)), (0, 0, 3, 3)) * 400
    return Framelets(data.astype(np.float32), (Filter.BLUE, Filter.GREEN))


def _still_view(spin: SpinModel, n: int) -> ViewGeometry:
    """A camera 300 000 km from Jupiter's centre that only turns (no parallax)."""
    base = small_rotation(np.array([0.3, -0.2, 0.1]))
    # looking from +Z down at the planet: camera +Z towards -Z of the body
    down = np.diag([1.0, -1.0, -1.0]) @ base
    c2b = np.stack([down @ spin.rotation(i) for i in range(n)])
    return ViewGeometry(CameraModel(), np.array([[0.0, 0.0, 3e5]] * n), c2b, np.zeros((n, 3)))


@pytest.mark.parametrize("kind", ["cylinder", "perspective"])
def test_without_parallax_the_rendering_is_the_plain_stitch(kind: str) -> None:
    fr = _frame()
    spin = SpinModel(0.078, reference_exposure=1.5)
    cam = CameraModel()
    grid: CylinderGrid | PerspectiveGrid = CylinderGrid.covering(fr, cam, spin, scale=740.0)
    if kind == "perspective":
        grid = PerspectiveGrid.looking_at([0.02, 0.05, 1.0], 40.0, (300, 320))
    plain = stitch(fr, cam, spin, grid)
    view = _still_view(spin, fr.n_exposures)
    out = stitch_from_view(fr, view, grid, spin)
    assert out.on_body.any() and not out.on_body.all()  # the disc and the sky
    for b in fr.filters:
        both = plain.masks[b] & out.result.masks[b]
        assert both.sum() > 0.98 * plain.masks[b].sum()
        assert np.abs(out.result.bands[b][both] - plain.bands[b][both]).max() < 0.05  # DN of 400


def test_reference_view_interpolates_between_exposures() -> None:
    turns = np.stack([small_rotation([0.0, a, 0.0]) for a in (0.0, 0.08, 0.16)])
    obs = np.array([[1e4, 0.0, 0.0], [1e4, 30.0, 0.0], [1e4, 60.0, 0.0]])
    view = ViewGeometry(CameraModel(), obs, turns, np.zeros((3, 3)))
    ref = reference_view(view, 1.25)
    assert np.allclose(ref.observer, [1e4, 37.5, 0.0])
    assert np.allclose(rotation_vector(ref.camera_to_body), [0.0, 0.1, 0.0])
    with pytest.raises(Exception, match="outside"):
        reference_view(view, 2.5)


def test_an_exposure_hidden_by_the_body_does_not_paint_the_sky() -> None:
    """A close moon and a spacecraft moving 400 km sideways between two exposures that
    look the same way: far directions the moon hides from the second position take no
    sample from the second exposure."""
    down = np.diag([1.0, -1.0, -1.0])
    moon = Ellipsoid(1800.0, 1800.0, 1800.0)
    observers = np.array([[0.0, 0.0, 5800.0], [400.0, 0.0, 5800.0]])
    view = ViewGeometry(CameraModel(), observers, np.stack([down, down]), np.zeros((2, 3)), moon)
    data = np.zeros((2, 1, 128, 1648), np.float32)
    data[1] = 100.0  # only the second exposure is bright
    fr = Framelets(data, (Filter.GREEN,))
    grid = PerspectiveGrid.looking_at([0.0, 0.0, 1.0], 60.0, (101, 301))
    out = stitch_from_view(fr, view, grid, SpinModel(0.0, 0.0, 0.0))
    img, mask = out.result.bands[Filter.GREEN], out.result.masks[Filter.GREEN]
    far = grid.rays(slice(None), slice(None)) @ down.T
    _, hidden = intersect(observers[1], far, moon)
    sky = ~out.on_body & mask
    assert (sky & hidden).sum() > 50 and (sky & ~hidden).sum() > 1000
    assert np.all(img[sky & hidden] == 0.0)  # the first exposure alone
    assert np.all(img[sky & ~hidden] > 10.0)  # both exposures
