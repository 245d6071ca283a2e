"""What a stage is and what flows between stages.

A stage is a pure function ``run(state, params, context) -> state``: it takes the
current :class:`State` (framelets, then band images on one grid, then an RGB
picture) and returns a new one, reading the frame's metadata, the calibration and
the notes list from the :class:`Context`. Its :class:`StageSpec` (name, kind,
parameters, one-line doc) is what recipes, ``junocam pipelines --stages`` and the
validation see. :data:`KINDS` is the order the kinds must come in.

Examples
--------
>>> KINDS
('linear', 'geometry', 'photometric', 'compose', 'color')
>>> State().rgb is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..calibrate import Calibration
from ..decode import RawFrame
from ..framelets import Framelets
from ..geometry import Resampler
from ..metadata import Filter
from ..planet.photometry import Backplanes
from ..spinfit import SpinFit
from .parameters import Param

if TYPE_CHECKING:
    from ..planet.projection import MapResult


#: ``projector(framelets) -> MapResult``: map projection in place of stitching.
Projector = Callable[[Framelets], "MapResult"]


KINDS = ("linear", "geometry", "photometric", "compose", "color")


@dataclass(frozen=True)
class State:
    """What flows between stages; a stage returns a new state (``dataclasses.replace``).

    Attributes
    ----------
    framelets : Framelets or None
        Linear framelets (float32 DN) until the geometry stage.
    bands, masks : dict of Filter -> numpy.ndarray, or None
        Band images on one grid (linear) and where each band has data.
    rgb : numpy.ndarray or None
        float32 (H, W, 3) in [0, 1] from the compose stage on; (H, W) for a grey
        composite (``mono``), made RGB only in the pipeline's result.
    mask : numpy.ndarray or None
        Where the composite is shown (every band's data, or any with partial coverage).
    alpha : numpy.ndarray or None
        float32 opacity in [0, 1]: 1 inside the coverage, a ramp at its edge.
    fit : SpinFit or None
    target : numpy.ndarray or None
        Soft 0..1 weight of the planet against the sky (local stages use it).
    mono : bool
        The composite is grey (one band).
    backplanes : Backplanes or None
        Per-pixel geometry of a map.
    """

    framelets: Framelets | None = None
    bands: Mapping[Filter, np.ndarray] | None = None
    masks: Mapping[Filter, np.ndarray] | None = None
    rgb: np.ndarray | None = None
    mask: np.ndarray | None = None
    fit: SpinFit | None = None
    target: np.ndarray | None = None
    mono: bool = False
    backplanes: Backplanes | None = None
    alpha: np.ndarray | None = None


@dataclass(frozen=True)
class Context:
    frame: RawFrame
    calibration: Calibration | None
    notes: list[str]
    spin_fit: SpinFit | None = None
    projector: Projector | None = None
    #: renders the stitch stage's bands on its grid instead of the spin-only stitch
    #: (``junocam process --kernels``); see :data:`junocam.geometry.Resampler`
    resampler: Resampler | None = None
    #: the colour stages may write their result into ``state.rgb`` (the engine made
    #: that picture and keeps no other reference to it): no second full-size picture
    in_place: bool = False
    #: the compose stage may empty ``state.bands`` (a dict the engine made for it)
    #: once it has composed them: the engine drops the bands after it (``keep_bands``
    #: False), so each band is freed as soon as it is used, not after the stage
    release_bands: bool = False


@dataclass(frozen=True)
class StageSpec:
    """A registered stage: its kind, parameters and implementation.

    A ``linear`` stage must treat each band on its own (its output for one band
    depends on that band's framelets only): the engine runs the linear stages one
    band at a time (a :class:`~junocam.framelets.Framelets` of one band) to bound
    memory, and on the whole frame for ``keep_stages``; both give the same result.
    """

    name: str
    kind: str
    params: Mapping[str, Param]
    run: Callable[[State, Mapping[str, Any], Context], State]
    doc: str
