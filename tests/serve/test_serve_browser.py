"""The page in a real browser: headless Chromium from Debian's packages, driven by Playwright.

Never a downloaded browser: the test uses /usr/bin/chromium (`apt-get install chromium`; .ci/run
installs it) and skips, saying so, where it is absent. It draws a "1", reads the prediction and
the bars, opens two layers' feature-map grids and a channel, uploads a PNG of a test digit,
and checks that the page loaded nothing from anywhere but the server and logged no error.

The screenshot goes to the test's temporary folder; with CONVNP_FIGURES=1 it also replaces
docs/figures/serve.png, the one the README shows.
"""
import os
import shutil
from pathlib import Path

import pytest
from .serve_helpers import png

from convnp.serve import ModelStore, create_app

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
FIGURE = Path(__file__).resolve().parents[2] / "docs" / "figures" / "serve.png"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"no {CHROMIUM}: the browser tests need Debian's Chromium (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need Playwright: pip install playwright")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server):
    """A function app -> the page of a live server (uvicorn in a thread) serving app, in headless Chromium."""
    pages = []

    def open_(app):
        server = live_server(app)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.problems, page.requests, page.server_url = [], [], server.url
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("request", lambda r: page.requests.append(r.url))
        page.goto(server.url + "/")
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def page(open_page, model_file):
    return open_page(create_app(ModelStore([model_file]), allowed_hosts=["127.0.0.1"]))


def draw_a_one(page):
    """A stroke down the middle of the canvas, slightly slanted, as a person draws a 1."""
    box = page.locator("#draw").bounding_box()
    x, top = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2
    page.mouse.move(x, top)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x - i * 0.6, top + i * box["height"] * 0.03)
    page.mouse.up()


def test_draw_see_the_layers_upload_a_digit(page, digits, tmp_path):
    page.wait_for_selector("#layer-tabs button")
    assert page.input_value("#model") == "m1"

    draw_a_one(page)
    page.wait_for_selector("#predicted[data-source=draw]")
    assert page.inner_text("#predicted") == "1"
    assert page.locator("#bars li").count() == 10
    assert page.inner_text("#bars li.top .label") == "1"
    assert "inverted" in page.inner_text("#seen-info")           # ink on white, as MNIST's white on black

    page.click("#layer-tabs button[data-layer='0']")
    page.wait_for_selector("#maps[data-layer='0'] figure")
    assert page.locator("#maps figure").count() == 6              # Conv2d(1, 6, 5): six 28x28 maps
    assert "output 6 x 28 x 28" in page.inner_text("#layer-title")
    page.click("#layer-tabs button[data-layer='3']")
    page.wait_for_selector("#maps[data-layer='3'] figure")
    assert page.locator("#maps figure").count() == 16
    page.locator("#maps figure").nth(5).click()
    assert page.is_visible("#zoom") and "channel 5: 10 x 10" in page.inner_text("#zoom-info")
    assert page.locator("#filters canvas").count() == 6

    images, labels, sure = digits
    upload = tmp_path / "digit.png"
    upload.write_bytes(png(images[sure[0]]))
    page.set_input_files("#upload", str(upload))
    page.wait_for_selector("#predicted[data-source=upload]")
    assert page.inner_text("#predicted") == str(labels[sure[0]])
    page.wait_for_selector("#maps[data-source=upload][data-layer='3'] figure")   # maps and saliency of the upload
    assert "channel 5" in page.inner_text("#zoom-info")          # the enlarged channel stays chosen
    page.locator("#maps figure").nth(2).click()
    assert "channel 2: 10 x 10" in page.inner_text("#zoom-info")
    page.screenshot(path=str(tmp_path / "serve.png"))
    assert (tmp_path / "serve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CONVNP_FIGURES") == "1":
        FIGURE.parent.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "serve.png", FIGURE)

    assert not page.problems
    assert all(url.startswith((page.server_url + "/", "data:", "blob:")) for url in page.requests), page.requests


def test_a_bad_upload_shows_the_servers_message(page, tmp_path):
    page.wait_for_selector("#layer-tabs button")
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are not pixels")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")
    draw_a_one(page)                                             # and the page goes on working
    page.wait_for_selector("#predicted[data-source=draw]")
    page.wait_for_selector("#error[hidden]", state="attached")


def test_with_no_model_the_train_button_trains_one(open_page, folder_dataset, tmp_path):
    args = ("--dataset", f"folder:{folder_dataset}", "--epochs", "2", "--batch-size", "8")
    page = open_page(create_app(ModelStore(runs=tmp_path / "runs"), train_args=args))
    page.wait_for_selector("#no-models:not([hidden])")
    page.click("#train")
    page.wait_for_selector("#train-status:not([hidden])")
    page.wait_for_selector("#layer-tabs button", timeout=120_000)   # the new model, chosen when done
    assert page.input_value("#model") == "m1"
    assert page.is_hidden("#no-models") and page.is_enabled("#train")
    assert page.get_attribute("#train-progress", "value") == "1"
    assert not page.problems
