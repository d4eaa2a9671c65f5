"""The Space in a real browser: headless Debian Chromium driven by Playwright.

Uploads an example photo and runs it RGB-only, then clicks the RGB-D example (photo, depth
file and box) and runs it with the uploaded depth; the overlay, the depth view and a drawn 3D
view must appear. The page's screenshot is kept as an artifact (pytest's tmp path and
outputs/space_browser.png). Set-up: bash scripts/install_browser.sh (setup.sh runs it).
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")

from test_space import EXAMPLE_PHOTO, save_tiny_checkpoint, serve

from anyhand_hf.space import SpaceModels

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACT = Path(__file__).resolve().parents[1] / "outputs" / "space_browser.png"
TIMEOUT_MS = 60_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: bash scripts/install_browser.sh")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    checkpoint = save_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))
    demo, url = serve(SpaceModels.load(str(checkpoint), detector=False))  # boxes are typed
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#run")
        yield page
        browser.close()
    demo.close()


def screenshot_with_scene(page, seconds: float = 30.0) -> bytes | None:
    """A screenshot of the page's top in which the 3D view shows more than its clear colour
    (WebGL draws in the background), or None if it never does within ``seconds``."""
    page.evaluate("window.scrollTo(0, 0)")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        png = page.screenshot()
        box = page.locator("#scene canvas").bounding_box()
        shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        view = shot[int(box["y"]):int(box["y"] + box["height"]), int(box["x"]):int(box["x"] + box["width"])]
        if len(np.unique(view.reshape(-1, 3), axis=0)) > 50:
            return png
        time.sleep(0.5)
    return None


def test_rgb_only_then_rgbd_in_the_browser(page, tmp_path):
    expect = playwright.expect
    # RGB only: upload the photo, draw the box with two clicks on it, no depth.
    page.locator("#photo input[type=file]").set_input_files(str(EXAMPLE_PHOTO))
    photo = page.locator("#photo img")
    expect(photo).to_be_visible()
    x0, y0, x1, y1 = (float(v) for v in (EXAMPLE_PHOTO.parent / "anyhand_1_box.txt").read_text().split(",")[:4])
    shown = photo.bounding_box()
    per_pixel = shown["width"] / photo.evaluate("img => img.naturalWidth")
    photo.click(position={"x": (x0 + 0.5) * per_pixel, "y": (y0 + 0.5) * per_pixel})
    expect(page.locator("#corner-hint")).to_contain_text("click the opposite corner")
    photo.click(position={"x": (x1 + 0.5) * per_pixel, "y": (y1 + 0.5) * per_pixel})
    expect(page.locator("#boxes textarea")).not_to_have_value("")
    drawn = [float(v) for v in page.locator("#boxes textarea").input_value().split(",")]
    np.testing.assert_allclose(drawn, [x0, y0, x1, y1], atol=2.0)
    # A mistake gets its message in the page (gradio's error toast), and the app goes on.
    page.get_by_label("uploaded").check()
    page.locator("#run").click()
    expect(page.get_by_text("no depth file was given").first).to_be_visible()
    page.get_by_label("none").check()
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("1 hand (1 right, 0 left), depth: none", timeout=TIMEOUT_MS)
    overlay = page.locator("#overlay img")
    expect(overlay).to_be_visible()
    assert overlay.evaluate("img => img.naturalWidth") == 256
    assert screenshot_with_scene(page) is not None

    # RGB-D: click the first example row (photo, depth file, box, "uploaded"), then run.
    page.get_by_text("anyhand_1_depth.png").last.click()
    expect(page.locator("#depth-file")).to_contain_text("anyhand_1_depth")
    expect(page.locator("#depth-source input[value=uploaded]")).to_be_checked()
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("depth: uploaded", timeout=TIMEOUT_MS)
    expect(page.locator("#depth-view img")).to_be_visible()
    expect(page.locator("#files")).to_contain_text("scene")
    png = screenshot_with_scene(page)
    assert png is not None

    shot = tmp_path / "space_browser.png"
    shot.write_bytes(png)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
