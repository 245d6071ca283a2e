"""Single-band (methane) real frames: no framelet banding or line stripes with ``mono``.

The figure is :func:`junocam.quality.row_banding` (RMS of the row profile's
line-to-line jumps over the disc, relative to its level) on both methane frames of
``../shared/junocam/raw``, against the naive stack of the same frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from junocam.decode import read_frame
from junocam.pipeline import Pipeline
from junocam.quality import row_banding

METHANE = ["JNCE_2022186_43M00081_V01", "JNCE_2022229_44M00040_V01"]


@pytest.mark.realdata
@pytest.mark.parametrize("pid", METHANE)
def test_mono_removes_banding_and_stripes(shared_junocam: Path, pid: str) -> None:
    frame = read_frame(shared_junocam / "raw" / pid / f"{pid}-raw.png")
    naive = Pipeline.named("raw").with_overrides(['stitch.geometry="naive"', 'compose.mode="grey"'])
    mono = Pipeline.named("mono")
    without = Pipeline(
        [s for s in mono.stages if s.name not in ("line_noise", "line_gain")], name="mono-"
    )
    b_naive = row_banding(*_rgb_mask(naive.run(frame)))
    b_mono = row_banding(*_rgb_mask(mono.run(frame)))
    b_without = row_banding(*_rgb_mask(without.run(frame)))
    # measured: 44M00040 0.055 -> 0.026, 43M00081 0.167 -> 0.046
    assert b_mono < 0.55 * b_naive
    assert b_mono < 0.6 * b_without  # the line stages do it, not the stretch


def _rgb_mask(result):
    return result.rgb, result.mask
