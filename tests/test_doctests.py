"""The docstring examples of every module run and are true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "junocam.errors",
    "junocam.metadata",
    "junocam.companding",
    "junocam.framelets",
    "junocam.decode",
    "junocam.compose",
    "junocam.output",
    "junocam.cli",
    "junocam.camera",
    "junocam.spin",
    "junocam.stitch",
    "junocam.spinfit",
    "junocam.geometry",
    "junocam.simulate",
    "junocam.calibrate",
    "junocam.enhance",
    "junocam.pipeline",
    "junocam.process",
    "junocam.quality",
    "junocam.batch",
    "junocam.gallery",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
