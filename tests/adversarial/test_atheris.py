"""Run the coverage-guided decoder fuzz target (``fuzz/fuzz_decoders.py``) for a short budget.

CI runs it for ``JUNOCAM_ATHERIS_SECONDS`` (default 15) with a fixed seed; run it
longer on demand as the target's docstring shows. A crash, hang (over 10 s for one
input) or memory blow-up (over 1 GiB) fails the test and leaves the input in the
test's temporary folder; add that input as a case below.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from junocam.decode import read_frame
from junocam.errors import JunoCamError

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "fuzz" / "fuzz_decoders.py"
SECONDS = int(os.environ.get("JUNOCAM_ATHERIS_SECONDS", "15"))


def test_fuzz_target_short_budget(tmp_path):
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(TARGET), "--make-seeds", str(corpus)], check=True)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    args = [
        sys.executable, str(TARGET), str(corpus), f"-max_total_time={SECONDS}", "-seed=1",
        "-timeout=10", "-rss_limit_mb=1024", f"-artifact_prefix={artifacts}/",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=SECONDS + 120)
    found = sorted(p.name for p in artifacts.iterdir())
    tail = "\n".join(proc.stderr.splitlines()[-15:])
    assert proc.returncode == 0 and not found, f"fuzzer found {found}:\n{tail}"
    assert "Done" in proc.stderr and "runs in" in proc.stderr, tail


# Inputs the fuzzer found, as (first byte = decoder, rest = file content); each must
# now give a project error promptly. See tests/adversarial/test_metadata_inputs.py
# for the PVL label that hung pvl's parser (timeout-8e6b98...).
FOUND: list[bytes] = [
    b'\x03PDS_VERSION_ID = PDS3\nRECORD_BYTES = 1648\n = "D.IMG"\nPROD= 128\n'
    b"  LINE_SAMPLESTER_48\n  SAMPLE_BITS = 4\nEND_OBJEPDS_VERAGE\nEND\n",
]


@pytest.mark.parametrize("data", FOUND)
def test_fuzzer_findings_stay_fixed(tmp_path, no_hang, data):
    kind, body = data[0], data[1:]
    assert kind == 3  # a detached label beside a zero-filled image
    (tmp_path / "D.IMG").write_bytes(bytes(128 * 1648))
    lbl = tmp_path / "D.LBL"
    lbl.write_bytes(body)
    with pytest.raises(JunoCamError) as info:
        read_frame(lbl)
    assert str(lbl) in str(info.value)
