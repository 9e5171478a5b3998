"""The web page, driven in Debian's headless Chromium against the real server (tiny checkpoint).

The server runs as ``python -m vto serve`` in a subprocess with the tiny checkpoint at 96x128;
the person check cannot pass on random weights, so the page sends a user mask (the real
pose/parsing path is what runs without one). Screenshots land in the test's tmp dir, or in
``$VTO_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import importlib.util

import httpx
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
API_KEY = "web-test-key-0123"

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="needs Debian's chromium at /usr/bin/chromium "
                                        "(apt-get install chromium; `make` does it)"),
              pytest.mark.skipif(importlib.util.find_spec("vto.cli.serve") is None,
                                 reason="the `vto serve` command is not in this tree")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def web_inputs(tmp_path_factory, examples) -> dict[str, Path]:
    """A catalog with named garments, a person photo, its mask and a file that is no image."""
    root = tmp_path_factory.mktemp("web")
    catalog = root / "catalog"
    catalog.mkdir()
    for source, target in [("03244_00.jpg", "blue-shirt.jpg"), ("051827_1.jpg", "denim-jeans.jpg"),
                           ("053290_1.jpg", "summer-dress.jpg")]:
        shutil.copy(examples / "garment" / source, catalog / target)
    person = root / "person.png"
    Image.open(examples / "person" / "model_1.png").convert("RGB").resize((384, 512)).save(person)
    mask = Image.new("L", (384, 512), 0)
    mask.paste(255, (96, 128, 288, 384))  # the torso
    mask.save(root / "mask.png")
    (root / "notes.txt").write_text("this is not an image\n")
    return {"root": root, "catalog": catalog, "person": person, "mask": root / "mask.png",
            "text": root / "notes.txt"}


@pytest.fixture(scope="module")
def server(tiny_checkpoint, web_inputs):
    """`vto serve` on a free loopback port; yields its base URL."""
    port = _free_port()
    data_dir = web_inputs["root"] / "data"
    log_path = web_inputs["root"] / "server.log"
    env = {**os.environ, "VTO_WIDTH": "96", "VTO_HEIGHT": "128", "VTO_DEVICE": "cpu",
           "VTO_API_KEYS": API_KEY, "VTO_POLL_S": "0.1"}
    command = [sys.executable, "-m", "vto", "serve", "--checkpoints", str(tiny_checkpoint.root),
               "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
               "--catalog", str(web_inputs["catalog"])]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update",
                  "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Record every progress text the page shows, to check that progress was displayed live.
    page.add_init_script("""
        window.__seen = [];
        document.addEventListener('DOMContentLoaded', () => {
          const record = () => window.__seen.push(
            document.getElementById('status').textContent + ' | ' +
            document.getElementById('progress').textContent);
          new MutationObserver(record).observe(document.querySelector('.output'),
            {subtree: true, childList: true, characterData: true});
        });
    """)
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"
    context.close()


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("VTO_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _login(page) -> None:
    if not page.get_by_test_id("api-key").is_visible():
        page.get_by_test_id("api-key-toggle").click()
    page.get_by_test_id("api-key").fill(API_KEY)
    page.get_by_test_id("api-key").dispatch_event("change")
    page.wait_for_selector("[data-testid=garment-item] img")


def _fill(page, web_inputs, steps: int) -> None:
    page.get_by_test_id("person-input").set_input_files(web_inputs["person"])
    page.get_by_test_id("mask-input").set_input_files(web_inputs["mask"])
    page.locator("[data-testid=garment-item][data-id=blue-shirt]").click()
    page.get_by_test_id("n-steps").fill(str(steps))


def test_page_needs_the_key_to_list_garments(page):
    from playwright.sync_api import expect

    expect(page.get_by_test_id("error")).to_be_visible()
    expect(page.get_by_test_id("error")).to_contain_text("API key")  # the problem's detail
    expect(page.get_by_test_id("api-key")).to_be_visible()  # the key field opens by itself
    assert page.get_by_test_id("garment-item").count() == 0


def test_tryon_flow(page, web_inputs, tmp_path):
    from playwright.sync_api import expect

    _login(page)
    expect(page.get_by_test_id("error")).to_be_hidden()
    items = page.get_by_test_id("garment-item")
    expect(items).to_have_count(3)
    # catalog thumbnails actually loaded
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=garment-item] img')]
                                    .every(i => i.complete && i.naturalWidth > 0)""", timeout=10_000)
    page.locator("[data-testid=garment-item][data-id=denim-jeans]").click()
    expect(page.get_by_test_id("category")).to_have_value("lower_body")
    expect(page.get_by_test_id("model-type")).to_have_value("dc")  # hd is tops only

    _fill(page, web_inputs, steps=2)
    expect(page.get_by_test_id("category")).to_have_value("upper_body")
    page.get_by_test_id("model-type").select_option("hd")
    page.get_by_test_id("n-samples").fill("2")
    page.get_by_test_id("seed").fill("7")
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("status")).to_have_text("Done", timeout=120_000)
    expect(page.get_by_test_id("progress")).to_have_text("step 2 / 2")
    seen = page.evaluate("window.__seen")
    assert any("step" in s for s in seen), seen

    images = page.get_by_test_id("result-image")
    expect(images).to_have_count(2)
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=result-image]')]
                                    .every(i => i.complete && i.naturalWidth > 0)""")
    widths = page.eval_on_selector_all("[data-testid=result-image]",
                                       "imgs => imgs.map(i => i.naturalWidth)")
    assert all(w > 0 for w in widths)
    expect(page.get_by_test_id("seed-used")).to_have_text("seed 7")
    download = page.get_by_test_id("download").first
    expect(download).to_have_attribute("href", re.compile(r"^(blob:|http)"))
    magic = page.evaluate("""async (href) => [...new Uint8Array(
        await (await fetch(href)).arrayBuffer()).slice(0, 4)]""", download.get_attribute("href"))
    assert bytes(magic) == b"\x89PNG"
    expect(page.get_by_test_id("compare")).to_be_visible()
    page.get_by_test_id("compare-slider").fill("20")
    assert "20%" in page.get_by_test_id("compare-after").evaluate("e => e.style.clipPath")
    shot = _screenshot(page, tmp_path, "tryon-done")
    assert shot.stat().st_size > 10_000


def test_cancel_flow(page, web_inputs, tmp_path):
    from playwright.sync_api import expect

    _login(page)
    _fill(page, web_inputs, steps=100)  # the engine's maximum: minutes on this CPU
    page.get_by_test_id("n-samples").fill("4")
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("progress")).to_contain_text("step", timeout=60_000)
    expect(page.get_by_test_id("cancel")).to_be_enabled()
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("status")).to_have_text("Canceled", timeout=60_000)
    expect(page.get_by_test_id("result-image")).to_have_count(0)
    expect(page.get_by_test_id("run")).to_be_enabled()
    _screenshot(page, tmp_path, "canceled")


def test_non_image_upload_shows_the_problem_detail(page, web_inputs, tmp_path):
    from playwright.sync_api import expect

    _login(page)
    _fill(page, web_inputs, steps=2)
    page.get_by_test_id("person-input").set_input_files(web_inputs["text"])
    page.get_by_test_id("run").click()
    error = page.get_by_test_id("error")
    expect(error).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("error-detail")).not_to_be_empty()
    detail = page.get_by_test_id("error-detail").text_content()
    assert "image" in detail.lower(), detail
    expect(page.get_by_test_id("status")).to_have_text("Failed")
    _screenshot(page, tmp_path, "error")


def test_page_asks_for_missing_inputs(page):
    from playwright.sync_api import expect

    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("error-detail")).to_have_text("Choose a person photo first.")
