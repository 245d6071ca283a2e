"""The README's screenshot of the studio: docs/images/studio.png.

Starts the studio on the given frames and folders, opens it in Debian's chromium
through Playwright, selects the first frame whose name contains ``--select``, moves
the gamma slider so the before/after split shows a difference, and saves a
screenshot. Look at the result before committing it.

Usage
-----
    python scripts/studio_screenshot.py ../shared/junocam/raw/JNCE_2022229_44C00029_V01 \
        sample_frames --select 44C00029 --split 24 -o docs/images/studio.png
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from junocam.studio.app import StudioConfig, start_in_thread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--select", default="")
    ap.add_argument("--gamma", default="2.2")
    ap.add_argument("--split", default="50", help="before/after split, percent from the left")
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/images/studio.png"))
    ap.add_argument("--width", type=int, default=1500)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    out_dir = Path(tempfile.mkdtemp(prefix="junocam-studio-shot-"))
    url, stop = start_in_thread(StudioConfig(inputs=tuple(args.inputs), out_dir=out_dir, port=0))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url)
            page.wait_for_selector("#frames li", state="attached")
            page.locator(f'#frames li:has-text("{args.select}")').first.click()
            settle = """() => {
                const img = document.getElementById("preview-img");
                const sel = document.querySelector("#frames li.selected");
                return sel && img.dataset.frame === sel.dataset.id
                    && !document.getElementById("status").classList.contains("busy");
            }"""
            page.wait_for_function(settle, timeout=180_000)
            page.locator('.stage[data-stage="gamma"] input[type="range"]').fill(args.gamma)
            page.wait_for_timeout(300)
            page.wait_for_function(settle, timeout=60_000)
            page.wait_for_timeout(1500)  # the "before" image and thumbnails
            page.locator("#split").fill(args.split)
            # show the colour stages, where looks are tuned
            page.evaluate(
                "document.getElementById('editor').scrollTop = "
                "document.querySelector('.stage[data-stage=\"compose\"]').offsetTop - 60"
            )
            args.output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.output))
            browser.close()
    finally:
        stop()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
