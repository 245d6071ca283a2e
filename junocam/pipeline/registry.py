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
    """What flows between stages (private; stages return a new state)."""

    framelets: Framelets | None = None
    bands: Mapping[Filter, np.ndarray] | None = None
    masks: Mapping[Filter, np.ndarray] | None = None
    rgb: np.ndarray | None = None
    mask: np.ndarray | None = None
    fit: SpinFit | None = None
    target: np.ndarray | None = None
    mono: bool = False
    backplanes: Backplanes | None = None


@dataclass(frozen=True)
class Context:
    frame: RawFrame
    calibration: Calibration | None
    notes: list[str]
    spin_fit: SpinFit | None = None
    projector: Projector | None = None


@dataclass(frozen=True)
class StageSpec:
    """A registered stage: its kind, parameters and implementation."""

    name: str
    kind: str
    params: Mapping[str, Param]
    run: Callable[[State, Mapping[str, Any], Context], State]
    doc: str
