"""The registered stages, one module per kind, in pipeline order.

A stage is a function ``run(state, params, context) -> state`` with a
:class:`~junocam.pipeline.registry.StageSpec` (its name, kind, parameters and
one-line doc) defined right after it in the same module. :data:`STAGES` collects
every module-level ``StageSpec`` of the modules below, in the order they are defined:
adding a stage means writing its function and its spec in one place.

Examples
--------
>>> list(STAGES)[:3]
['black_level', 'dark', 'flat']
>>> STAGES["gamma"].kind
'color'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from ..registry import StageSpec
from . import cleanup, colour, composition, geometry, photometry

__all__ = ["STAGES"]

#: Stage modules in pipeline order (their kinds' order).
MODULES: tuple[ModuleType, ...] = (cleanup, geometry, photometry, composition, colour)


def _specs(module: ModuleType) -> list[StageSpec]:
    return [v for v in vars(module).values() if isinstance(v, StageSpec)]


def _collect(modules: tuple[ModuleType, ...]) -> Mapping[str, StageSpec]:
    out: dict[str, StageSpec] = {}
    for module in modules:
        for spec in _specs(module):
            if spec.name in out:  # two specs with one name would shadow each other silently
                raise RuntimeError(f"stage {spec.name!r} is registered twice")
            out[spec.name] = spec
    return MappingProxyType(out)


STAGES: Mapping[str, StageSpec] = _collect(MODULES)
