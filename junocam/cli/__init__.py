"""The ``junocam`` command line: a thin click layer over the package's functions.

Commands: ``info`` and ``split`` (look at a frame), ``process`` and ``compare``
(run a recipe), ``pipelines`` (list recipes and stages), ``simulate`` (make frames),
``batch`` and ``gallery`` (many frames), ``geometry``, ``map``, ``mosaic``, ``globe``
and ``animate`` (planet geometry and map products). Every frame is handled on its
own: a frame that fails prints one line ``error: <path>: <message>`` on stderr (with
a traceback only under ``--debug``) and the other frames are still processed.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(main, ["pipelines"])
>>> result.exit_code, "enhanced" in result.output
(0, True)
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
