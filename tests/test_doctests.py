"""The docstring examples of every module of the package run and are true.

The modules are found by walking the package, not from a hand-kept list, so a new
module's examples run as soon as it exists. Examples that need an optional
dependency use it only where the test extras install it (spiceypy).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import tempfile

import pytest

import junocam

MODULES = sorted(m.name for m in pkgutil.walk_packages(junocam.__path__, prefix="junocam."))

#: Modules with nothing to show in an example: the version string alone.
NO_EXAMPLES = {"junocam._version"}


def test_the_walk_finds_every_part():
    parts = {"junocam.pipeline", "junocam.planet", "junocam.maps", "junocam.batch", "junocam.cli"}
    assert parts <= set(MODULES)
    assert "junocam.pipeline.stages.colour" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # and their mkdtemp() folders
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0
    if name not in NO_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring example"


@pytest.mark.parametrize("name", MODULES)
def test_no_example_is_skipped(name: str):
    """An example marked ``+SKIP`` never runs: every example must run."""
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    skipped = [
        f"{t.name}:{ex.lineno}"
        for t in finder.find(module)
        for ex in t.examples
        if ex.options.get(doctest.SKIP)
    ]
    assert skipped == [], f"examples that never run: {skipped}"
