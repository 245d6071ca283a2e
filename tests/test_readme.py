"""The README's Python example runs, and CI runs exactly the README's test command."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "pip install -e '.[test]' && python -m pytest -q"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = _python_blocks(README)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "float32" in out and "Filter.BLUE" in out
    assert (tmp_path / "demo-naive.png").is_file()


def test_readme_names_the_setup_commands():
    assert "pip install -e . && junocam process sample_frames/*.png -o out/" in README
    assert TEST_COMMAND in README
    assert "missionjuno.swri.edu/junocam/processing" in README


def test_ci_runs_exactly_the_readme_test_command():
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in script
    pytest_lines = [ln for ln in script.splitlines() if "pytest" in ln and not ln.startswith("#")]
    assert any("python -m pytest -q" in ln for ln in pytest_lines)
    assert "pip install -e '.[test]'" in script


def test_missing_data_skips_locally_and_fails_on_ci(tmp_path, monkeypatch):
    import pytest
    from conftest import require_data

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require_data(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_data(tmp_path)
