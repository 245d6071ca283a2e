"""``junocam process --kernels``: the stitched picture rendered from the SPICE geometry.

A plain ``process`` stitches from the spin alone; on a close flyby the fitted turn
absorbs the spacecraft's motion and the body comes out stretched. With kernels the
frame's geometry comes from :func:`junocam.maps.frame.frame_geometry` (SPK positions;
a CK attitude, or the attitude navigated from the limb, cached like ``map``'s), and
the recipe's stitch stage keeps its grid (same size and scale as a plain
``process``) but renders it with :func:`junocam.planet.viewstitch.stitch_from_view`:
as seen from the spacecraft's position at the frame's reference (middle) exposure,
each exposure sampled from its own position. The JSON record says so
(``"geometry"``: the kernels, CK or navigation with its residuals, the target, the
fraction of the picture on the body).

Examples
--------
A 4-exposure green frame of a synthetic pass (kernels and a raw PNG with its
metadata), processed with the CK attitude as is:

>>> import tempfile
>>> from pathlib import Path
>>> from junocam.metadata import Filter
>>> from junocam.pipeline import Pipeline
>>> from junocam.process import ProcessOptions
>>> from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames
>>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=4, oversample=1)
>>> truth, (png,) = simulate_pass_frames(tempfile.mkdtemp(), frame=spec,
...                                      texture=PlanetTexture.procedural((90, 180)))
>>> done = process_with_kernels(png, truth.kernels, Pipeline.named("mono"),
...                             ProcessOptions(Path(tempfile.mkdtemp())), mode="ck")
>>> done.image.name, done.record["geometry"]["source"], done.record["geometry"]["attitude"]
('JNCS_2026329_99C00001_V01-mono.png', 'spice', 'ck')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..calibrate import Calibration
from ..decode import DEFAULT_MAX_PIXELS, read_frame
from ..framelets import Framelets
from ..geometry import GeometryOptions
from ..metadata import Filter
from ..pipeline.engine import DefaultPipeline, Pipeline
from ..planet.spice import KernelSet
from ..planet.viewstitch import stitch_from_view
from ..process import ProcessedFrame, ProcessOptions, process_frame
from ..spin import SpinModel
from ..stitch import CylinderGrid, PerspectiveGrid, StitchResult
from .cache import GeometryCache
from .frame import FrameGeometry, frame_geometry

__all__ = ["ViewResampler", "process_with_kernels"]

#: How the picture is made, for the JSON record.
RENDERING = (
    "each output pixel's ray from the spacecraft's position and attitude at the reference "
    "exposure meets the target's ellipsoid; the surface point is sampled in every "
    "exposure from that exposure's own position and attitude; rays that miss the body "
    "are far directions (rotation only, same attitudes; skipped where the body hides "
    "them): an exact seam at the limb"
)


@dataclass(eq=False)
class ViewResampler:
    """A :data:`junocam.geometry.Resampler` rendering a frame from its SPICE geometry.

    Called by the stitch stage with the framelets after the recipe's clean-up, the
    spin fit and the grid; keeps what it saw for the record.

    Attributes
    ----------
    geometry : FrameGeometry
    on_body_fraction : float or None
        Share of the output pixels whose ray meets the body (after a call).
    reference_exposure : float or None
    """

    geometry: FrameGeometry
    on_body_fraction: float | None = field(default=None)
    reference_exposure: float | None = field(default=None)

    def __call__(
        self,
        framelets: Framelets,
        spin: SpinModel,
        grid: CylinderGrid | PerspectiveGrid,
        options: GeometryOptions,
    ) -> StitchResult:
        """Render ``framelets`` on ``grid`` (see :func:`stitch_from_view`)."""
        geo = self.geometry
        eph = geo.ephemeris
        # camera -> J2000: far directions turn with the spacecraft, not with the body
        c2i = np.transpose(eph.j2000_to_body, (0, 2, 1)) @ geo.view.camera_to_body
        out = stitch_from_view(
            framelets,
            geo.view,
            grid,
            spin,
            camera_to_inertial=c2i,
            order=options.order,
            feather=options.feather,
            trim_lines=options.trim_lines,
        )
        self.on_body_fraction = float(out.on_body.mean())
        self.reference_exposure = float(spin.reference_exposure)
        return out.result

    def record(self, kernels: KernelSet) -> dict[str, Any]:
        """The JSON record's ``geometry`` entry: what the picture was rendered with."""
        geo = self.geometry
        d: dict[str, Any] = {
            "source": "spice",
            "kernels": list(kernels.paths),
            "target": geo.ephemeris.target.as_dict(),
            **geo.as_dict(),
            "reference_exposure": self.reference_exposure,
            "on_body_fraction": None
            if self.on_body_fraction is None
            else round(self.on_body_fraction, 4),
            "rendering": RENDERING,
        }
        return d


def process_with_kernels(
    path: str | Path,
    kernels: KernelSet,
    pipeline: Pipeline | DefaultPipeline,
    popts: ProcessOptions,
    *,
    mode: str = "auto",
    time_offset: float = 0.0,
    target: str | None = None,
    cache: GeometryCache | None = None,
    metadata: str | Path | None = None,
    filters: Sequence[Filter] | None = None,
    interframe_delay: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    calibration: Calibration | None = None,
) -> ProcessedFrame:
    """``junocam process`` with SPICE geometry: read, navigate, render, write.

    Parameters
    ----------
    path : str or Path
        Raw frame (with its metadata: the start time and interframe delay are needed).
    kernels : KernelSet
        LSK, PCK and an SPK covering the frame; a CK (with the Juno FK) adds the attitude.
    pipeline, popts, metadata, filters, interframe_delay, max_pixels, calibration
        As for :func:`junocam.process.process_file`.
    mode, time_offset, target, cache
        As for :func:`junocam.maps.frame.frame_geometry` (``auto``: the CK attitude
        with its start time refined on the limb, else navigation from the limb).

    Returns
    -------
    ProcessedFrame
        Its record has ``"geometry"`` (see :meth:`ViewResampler.record`).

    Raises
    ------
    JunoCamError
        Unreadable frame, missing kernels or ephemeris (:class:`MissingEphemerisError`
        names the body and the kernel that would provide it), failed navigation.
    """
    frame = read_frame(
        path,
        metadata,
        filters=filters,
        interframe_delay=interframe_delay,
        max_pixels=max_pixels,
        allow_assumed=False,
    )
    geo = frame_geometry(
        frame, kernels, mode=mode, time_offset=time_offset, cache=cache, target=target
    )
    # the stitch stage fits the spin on the recipe's cleaned framelets as a plain
    # process does, so the grid (size, scale) is the plain one
    resampler = ViewResampler(geo)
    if isinstance(pipeline, DefaultPipeline):
        pipeline = pipeline.for_meta(frame.meta)

    return process_frame(
        frame,
        pipeline,
        popts,
        inputs=(path, metadata, *kernels.paths),
        calibration=calibration,
        resampler=resampler,
        record_extra=lambda result: {"geometry": resampler.record(kernels)},
    )
