"""Run the coverage-guided decoder fuzz target (``fuzz/fuzz_decoders.py``) for a short budget.

CI runs it for ``JUNOCAM_ATHERIS_SECONDS`` (default 15) with a fixed seed; run it
longer on demand as the target's docstring shows. A crash, hang (over 10 s for one
input), memory blow-up (over 1 GiB) or slow input fails the test; the message
holds the input (base64), so a finding on a CI machine can be replayed; add it as a
case below.

libFuzzer reports a unit as slow by the wall-clock time it took. On a shared machine
a pause of the whole process makes any unit look slow, so a slow unit counts only
when it is slow again when replayed alone (the fastest of three runs).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from junocam.decode import read_frame
from junocam.errors import JunoCamError

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "fuzz" / "fuzz_decoders.py"
SECONDS = int(os.environ.get("JUNOCAM_ATHERIS_SECONDS", "15"))
#: A unit this slow (s) is reported; a normal one takes 10-50 ms under instrumentation,
#: and the slowest input the decoders accept (a PDS3 label at its size limits) about 2 s.
SLOW_SECONDS = 5


def _fresh(args: list[str]) -> list[str]:
    """``args`` started from a small intermediate Python process.

    libFuzzer's ``-rss_limit_mb`` reads the peak RSS from ``getrusage``, and Linux
    carries a process's peak over ``execve`` from the process that spawned it: started
    straight from a pytest process of 1.6 GB, the fuzzer reported out-of-memory on its
    first inputs. A process spawned by a small one starts from the small one's peak.
    """
    launcher = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
    return [sys.executable, "-c", launcher, *args]


def _replay_ms(path: Path) -> int | None:
    """The fastest of three runs of one input through the fuzz target, in ms.

    None when a run did not finish within 30 s (libFuzzer's timeout).
    """
    # the input three times: libFuzzer times each file argument on its own
    args = [sys.executable, str(TARGET), *[str(path)] * 3, "-timeout=30"]
    try:
        proc = subprocess.run(_fresh(args), capture_output=True, text=True, timeout=3 * 30 + 60)
    except subprocess.TimeoutExpired:
        return None
    times = [int(t) for t in re.findall(r"Executed .* in (\d+) ms", proc.stderr)]
    return min(times) if len(times) == 3 else None


def _describe(path: Path) -> str:
    data = path.read_bytes()
    shown = base64.b64encode(data[:4096]).decode()
    more = f" (first 4096 of {len(data)} bytes)" if len(data) > 4096 else ""
    return f"{path.name}: {len(data)} bytes, decoder {data[:1].hex()}{more}, base64 {shown}"


def test_fuzz_target_short_budget(tmp_path):
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(TARGET), "--make-seeds", str(corpus)], check=True)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    args = [
        sys.executable, str(TARGET), str(corpus), f"-max_total_time={SECONDS}", "-seed=1",
        "-timeout=10", "-rss_limit_mb=1024", f"-report_slow_units={SLOW_SECONDS}",
        f"-artifact_prefix={artifacts}/",
    ]  # fmt: skip
    proc = subprocess.run(_fresh(args), capture_output=True, text=True, timeout=SECONDS + 120)
    tail = "\n".join(proc.stderr.splitlines()[-15:])
    found = []
    for path in sorted(artifacts.iterdir()):
        if path.name.startswith("slow-unit-"):
            ms = _replay_ms(path)
            if ms is not None and ms < SLOW_SECONDS * 1000:
                continue  # the machine paused, not the input: fast when replayed
            replay = "did not finish" if ms is None else f"took {ms} ms"
            found.append(f"{_describe(path)} (replayed alone it {replay})")
        else:
            found.append(_describe(path))
    assert proc.returncode == 0 and not found, "fuzzer found:\n" + "\n".join(found) + "\n" + tail
    assert "Done" in proc.stderr and "runs in" in proc.stderr, tail


def test_a_slow_unit_is_replayed_alone(tmp_path):
    """The replay the fuzz test uses to tell a slow input from a paused machine."""
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    unit = tmp_path / "unit"
    unit.write_bytes(FOUND[0])  # a detached label beside a zero-filled image
    ms = _replay_ms(unit)
    assert ms is not None and ms < SLOW_SECONDS * 1000
    assert _describe(unit).startswith("unit: ") and "decoder 03" in _describe(unit)


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
