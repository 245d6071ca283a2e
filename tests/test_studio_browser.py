"""The studio in a real browser: Playwright for Python driving Debian's chromium.

Playwright's own browser download is not used: the test launches the system
chromium (``apt-get install chromium``; ``.ci/run`` installs it when missing).
Without it the tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
playwright_sync = pytest.importorskip("playwright.sync_api")

from junocam.pipeline import Pipeline  # noqa: E402
from junocam.studio.app import StudioConfig, start_in_thread  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "sample_frames"
RGB_SAMPLE = "JNCS_2026329_00C00001_V01"


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "no chromium found (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser tests must run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The studio on 127.0.0.1 with an ephemeral port, serving copies of the sample frames."""
    root = tmp_path_factory.mktemp("studio")
    frames = root / "frames"
    frames.mkdir()
    for f in SAMPLES.glob("*-raw.*"):
        shutil.copy(f, frames / f.name)
    out = root / "out"
    url, stop = start_in_thread(StudioConfig(inputs=(frames,), out_dir=out, port=0))
    assert url.startswith("http://127.0.0.1:")
    yield url, out
    stop()


@pytest.fixture(scope="module")
def page(studio: tuple[str, Path]) -> Iterator[object]:
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        pg = browser.new_page(viewport={"width": 1500, "height": 900})
        errors: list[str] = []
        pg.on("pageerror", lambda err: errors.append(str(err)))
        pg.goto(studio[0])
        yield pg
        browser.close()
        assert errors == [], errors


def preview_pixels(pg) -> np.ndarray:
    from PIL import Image

    src = pg.get_attribute("#preview-img", "src")
    assert src and src.startswith("data:image/jpeg;base64,")
    data = base64.b64decode(src.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255.0


def test_the_page_lists_frames_recipes_and_one_control_per_parameter(page):
    page.wait_for_selector("#frames li", state="attached")
    assert page.locator("#frames li").count() == 3
    assert page.locator("#frames li img").first.get_attribute("src").endswith("/thumb")
    names = page.locator("#recipe-picker option").all_inner_texts()
    assert {"raw", "enhanced", "vivid", "true-color"} <= set(names)
    gamma = page.locator('.stage[data-stage="gamma"] .param[data-param="gamma.gamma"]')
    assert gamma.locator('input[type="range"]').count() == 1
    assert "mid-tones" in gamma.get_attribute("title")  # the registry's doc as tooltip
    assert (
        page.locator(
            '.stage[data-stage="stretch"] .param[data-param="stretch.linked"] .switch'
        ).count()
        == 2
    )
    assert page.locator('.param[data-param="stitch.geometry"] select').count() == 1


def settled(page, digest: str | None = None) -> None:
    """Wait until the preview shown is of the selected frame and nothing is pending."""
    page.wait_for_function(
        """(digest) => {
            const img = document.getElementById("preview-img");
            const sel = document.querySelector("#frames li.selected");
            return sel && img.dataset.frame === sel.dataset.id
                && (digest === null || img.dataset.digest !== digest)
                && !document.getElementById("status").classList.contains("busy");
        }""",
        arg=digest,
        timeout=90_000,
    )


def test_moving_a_slider_changes_the_preview(page):
    page.locator(f'#frames li:has-text("{RGB_SAMPLE}")').click()
    settled(page)
    before = preview_pixels(page)
    digest = page.get_attribute("#preview-img", "data-digest")
    slider = page.locator('.stage[data-stage="gamma"] input[type="range"]')
    slider.fill("2.6")
    settled(page, digest)
    after = preview_pixels(page)
    assert before.shape == after.shape
    lit = before.max(axis=-1) > 0.05  # the planet, not the black sky
    assert lit.mean() > 0.05
    change = np.abs(after - before)[lit].mean()
    assert float(change) > 0.02, change  # a visible change where there is something to see
    assert float(after[lit].mean()) > float(before[lit].mean())  # gamma 2.6 brightens
    latency = page.inner_text("#latency")
    stages = [s.name for s in Pipeline.named("enhanced").stages]
    gamma = stages.index("gamma")
    rerun = f"re-ran {len(stages) - gamma} of {len(stages)} from {gamma + 1}-gamma"
    assert rerun in latency  # only gamma and the stages after it
    page.screenshot(
        path=str(Path(os.environ.get("STUDIO_SCREENSHOT_DIR", "/tmp")) / "studio-test.png")
    )


def test_export_gives_a_valid_recipe_with_the_new_value(page, studio):
    page.click("#export")
    page.wait_for_selector("#export-box:not(.hidden)")
    text = page.inner_text("#export-toml")
    recipe = Pipeline.from_dict(tomllib.loads(text))
    gamma = next(s for s in recipe.stages if s.name == "gamma")
    assert gamma.params["gamma"] == pytest.approx(2.6)
    saved = studio[1] / "enhanced.toml"
    assert saved.is_file() and Pipeline.from_toml(saved).digest() == recipe.digest()


def test_process_the_frame_at_full_resolution(page, studio):
    page.click("#process")
    page.wait_for_selector('#job[data-status="done"]', timeout=120_000)
    out = studio[1] / f"{RGB_SAMPLE}-enhanced.png"
    assert out.is_file()
    record = out.with_suffix(".json").read_text()
    assert '"gamma": 2.6' in record
    links = page.locator("#job-outputs a").all_inner_texts()
    assert out.name in links
