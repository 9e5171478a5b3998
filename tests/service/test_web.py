"""The web page, driven in Debian's headless Chromium against a real `vto serve` whose worker runs
a fake engine (tests/service/web_fakes.py: a flat photo has nobody in it).

Each test leaves a screenshot of the state it checks in ``$VTO_SCREENSHOTS`` when set, else in
the session's pytest tmp dir (the path is printed; ``pytest -s`` shows it). The page weight
(bytes of HTML + JS + CSS as served) is printed and bounded.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
API_KEY = "web-test-key-0123"
REPO = Path(__file__).resolve().parents[2]
STEP_S = 0.25            # the fake engine's time per step
MAX_BODY = 2_000_000     # the server's upload limit in these tests (bytes)
DEFAULT_STEPS, MAX_STEPS = 7, 40

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="needs Debian's chromium at /usr/bin/chromium "
                                        "(apt-get install chromium; `make` does it)"),
              pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                                 reason="needs playwright (the dev extra)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def web_inputs(tmp_path_factory, examples) -> dict[str, Path]:
    """A catalog, a person photo, a photo with nobody in it, and files the page must refuse."""
    root = tmp_path_factory.mktemp("web")
    catalog = root / "catalog"
    catalog.mkdir()
    for source, target in [("03244_00.jpg", "blue-shirt.jpg"), ("051827_1.jpg", "denim-jeans.jpg"),
                           ("053290_1.jpg", "summer-dress.jpg")]:
        shutil.copy(examples / "garment" / source, catalog / target)
    files = {"root": root, "catalog": catalog}
    person = Image.open(examples / "person" / "model_1.png").convert("RGB").resize((384, 512))
    person.save(files.setdefault("person", root / "person.png"))
    Image.new("RGB", (384, 512), (180, 180, 175)).save(files.setdefault("blank", root / "blank.png"))
    Image.new("RGB", (30, 40), (9, 9, 9)).save(files.setdefault("tiny", root / "tiny.png"))
    Image.new("RGB", (500, 90), (9, 9, 9)).save(files.setdefault("wide", root / "wide.png"))
    noise = np.random.default_rng(0).integers(0, 256, (900, 900, 3), dtype=np.uint8)
    Image.fromarray(noise).save(files.setdefault("huge", root / "huge.png"))
    assert files["huge"].stat().st_size > MAX_BODY
    (root / "notes.txt").write_text("this is not an image\n")
    files["text"] = root / "notes.txt"
    (root / "holiday.jpg").write_text("a text file with a photo's name\n")
    files["fake_jpg"] = root / "holiday.jpg"
    return files


@pytest.fixture(scope="module")
def server(tiny_checkpoint, web_inputs):
    """`vto serve` on a free loopback port, its worker running the page's fake engine."""
    port = _free_port()
    log_path = web_inputs["root"] / "server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "VTO_WIDTH": "96", "VTO_HEIGHT": "128",
           "VTO_DEVICE": "cpu", "VTO_API_KEYS": API_KEY, "VTO_POLL_S": "0.1",
           "VTO_ENGINE_FACTORY": "tests.service.web_fakes:web", "VTO_FAKE_STEP_S": str(STEP_S),
           "VTO_MAX_BODY_BYTES": str(MAX_BODY), "VTO_DEFAULT_STEPS": str(DEFAULT_STEPS),
           "VTO_MAX_STEPS": str(MAX_STEPS)}
    command = [sys.executable, "-m", "vto", "serve", "--checkpoints", str(tiny_checkpoint.root),
               "--host", "127.0.0.1", "--port", str(port), "--data-dir",
               str(web_inputs["root"] / "data"), "--catalog", str(web_inputs["catalog"])]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=REPO)
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
def api(server):
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        yield client


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


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("VTO_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    assert path.stat().st_size > 5_000
    return path


def open_page(browser, server, **context_options):
    context = browser.new_context(base_url=server, **context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    return context, page, errors


@pytest.fixture
def page(browser, server):
    context, page, errors = open_page(browser, server, viewport={"width": 1280, "height": 900})
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"
    context.close()


def login(page) -> None:
    if not page.get_by_test_id("api-key").is_visible():
        page.get_by_test_id("api-key-toggle").click()
    page.get_by_test_id("api-key").fill(API_KEY)
    page.get_by_test_id("api-key").dispatch_event("change")
    page.wait_for_selector("[data-testid=garment-item] img")
    page.wait_for_function("document.getElementById('model').options.length > 0")


def choose_person(page, path: Path) -> None:
    page.get_by_test_id("person-input").set_input_files(path)
    page.wait_for_function("""() => !document.getElementById('person-preview').hidden
                                    || !document.getElementById('person-check').hidden""")


def fill(page, web_inputs, steps: int | None = None, person: str = "person") -> None:
    choose_person(page, web_inputs[person])
    page.locator("[data-testid=garment-item][data-id=blue-shirt]").click()
    if steps is not None:
        page.get_by_test_id("n-steps").fill(str(steps))


def run_and_wait(page, status: str = "Done", timeout_ms: int = 60_000) -> None:
    page.get_by_test_id("run").click()
    from playwright.sync_api import expect

    expect(page.get_by_test_id("status")).to_have_text(status, timeout=timeout_ms)


def paint(page, start: tuple[float, float], end: tuple[float, float],
          photo_size: tuple[int, int] = (384, 512)) -> None:
    """A drag on the mask editor from ``start`` to ``end``, in the photo's pixels."""
    canvas = page.get_by_test_id("mask-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return (box["x"] + point[0] * box["width"] / photo_size[0],
                box["y"] + point[1] * box["height"] / photo_size[1])
    page.mouse.move(*at(start))
    page.mouse.down()
    page.mouse.move(*at(end), steps=5)
    page.mouse.up()


def newest_job(api) -> dict:
    return api.get("/v1/jobs", params={"limit": 1}).json()["jobs"][0]


# --- tests --------------------------------------------------------------------------------------

def test_page_needs_the_key(page, shots):
    from playwright.sync_api import expect

    expect(page.get_by_test_id("error")).to_be_visible()
    expect(page.get_by_test_id("error")).to_contain_text("API key")
    expect(page.get_by_test_id("api-key")).to_be_visible()  # the key field opens by itself
    assert page.get_by_test_id("garment-item").count() == 0
    screenshot(page, shots, "01-needs-key")


def test_the_form_is_the_servers(page, api, shots):
    """Models, categories, settings, defaults and limits come from GET /v1/models."""
    from playwright.sync_api import expect

    login(page)
    served = api.get("/v1/models").json()
    models = {m["id"]: m for m in served["models"]}
    assert any("densepose" in m["capabilities"]["needs"] for m in served["models"])  # hr-viton
    options = page.eval_on_selector_all("#model option", "os => os.map(o => [o.value, o.text])")
    # the short name in the select (it fits a phone), the rest of the title under it
    assert options == [[m["id"], m["title"].split(" (")[0]] for m in served["models"]]
    expect(page.get_by_test_id("model")).to_have_value(served["default"])
    for model_id, model in models.items():
        page.get_by_test_id("model").select_option(model_id)
        caps = model["capabilities"]
        categories = page.eval_on_selector_all("#category option", "os => os.map(o => o.value)")
        assert categories == caps["categories"], model_id
        expect(page.get_by_test_id("licence")).to_contain_text(model["licence"])
        if " (" in model["title"]:
            expect(page.get_by_test_id("licence")).to_contain_text(
                model["title"].split(" (", 1)[1][:-1])
        assert page.get_by_test_id("licence").locator("a").get_attribute("href") == \
            model["licence_url"]
        steps = page.get_by_test_id("n-steps")
        if caps["steps"] is None:
            expect(steps).to_be_hidden()
        else:
            low, high = caps["steps"]["min"], min(caps["steps"]["max"], MAX_STEPS)
            assert steps.get_attribute("max") == str(high)
            assert steps.input_value() == str(min(max(DEFAULT_STEPS, low), high))
        guidance_shown = page.get_by_test_id("guidance").is_visible()
        assert guidance_shown == (caps["guidance"] is not None), model_id
        samples = min(caps["max_samples"], served["limits"]["max_samples"])
        assert page.get_by_test_id("n-samples").is_visible() == (samples > 1), model_id
        masks = caps["user_mask"] and "mask" in caps["needs"]
        assert page.get_by_test_id("mask-preview").is_visible() == masks, model_id
        densepose = "densepose" in caps["needs"]
        assert page.get_by_test_id("densepose-input").is_visible() == densepose, model_id
    page.get_by_test_id("model").select_option(served["default"])
    # a catalog garment picks a model that dresses it
    page.locator("[data-testid=garment-item][data-id=denim-jeans]").click()
    expect(page.get_by_test_id("category")).to_have_value("lower_body")
    chosen = page.get_by_test_id("model").input_value()
    assert "lower_body" in models[chosen]["capabilities"]["categories"]
    screenshot(page, shots, "02-form-from-server")


def test_untouched_settings_run_the_servers_defaults(page, web_inputs, api):
    login(page)
    fill(page, web_inputs)
    page.get_by_test_id("model").select_option("ootd-hd")
    run_and_wait(page)
    params = newest_job(api)["params"]
    assert params["num_inference_steps"] == DEFAULT_STEPS  # not a number of the page's own


@pytest.mark.parametrize("file, words", [
    ("fake_jpg", "“holiday.jpg” is not a picture vto can use as the photo of the person. "
                 "Choose a JPEG, PNG or WebP photo."),
    ("text", "“notes.txt” is not a picture"),
    ("tiny", "“tiny.png” is only 30 × 40 pixels; the photo of the person needs at least 64 "
             "pixels on each side."),
    ("wide", "is too long and narrow"),
    ("huge", "this server takes files up to 1.9 MB"),
])
def test_files_are_checked_in_the_browser_in_plain_words(page, web_inputs, shots, file, words):
    from playwright.sync_api import expect

    login(page)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST"
            else None)
    choose_person(page, web_inputs[file])
    check = page.get_by_test_id("person-check")
    expect(check).to_be_visible()
    expect(check).to_contain_text(words)
    assert not re.search(r"person_image|garment_image|_", check.text_content())
    expect(page.get_by_test_id("person-preview")).to_be_hidden()
    page.locator("[data-testid=garment-item][data-id=blue-shirt]").click()
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("error-detail")).to_have_text("Choose a photo of the person first.")
    assert sent == []  # nothing went to the server
    if file == "fake_jpg":
        screenshot(page, shots, "03-file-check")


def test_a_run_shows_elapsed_time_and_eta_then_the_result(page, web_inputs, api, shots):
    from playwright.sync_api import expect

    login(page)
    fill(page, web_inputs, steps=16)
    page.get_by_test_id("seed").fill("11")
    page.get_by_test_id("run").click()
    timing = page.get_by_test_id("timing")
    expect(timing).to_have_text(re.compile(r"^elapsed \d+:\d\d · about \d+:\d\d left$"),
                                timeout=30_000)
    expect(page.get_by_test_id("progress")).to_contain_text("step")
    screenshot(page, shots, "04-running-eta")
    expect(page.get_by_test_id("status")).to_have_text("Done", timeout=60_000)
    expect(timing).to_have_text(re.compile(r"^took \d+:\d\d$"))
    expect(page.get_by_test_id("progress")).to_have_text("step 16 / 16")
    images = page.get_by_test_id("result-image")
    expect(images).to_have_count(1)
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=result-image]')]
                                    .every(i => i.complete && i.naturalWidth > 0)""")
    expect(page.get_by_test_id("seed-used")).to_have_text("seed 11")
    expect(page.get_by_test_id("compare")).to_be_visible()
    page.get_by_test_id("compare-slider").fill("20")
    assert "20%" in page.get_by_test_id("compare-after").evaluate("e => e.style.clipPath")
    href = page.get_by_test_id("download").first.get_attribute("href")
    magic = page.evaluate("""async (href) => [...new Uint8Array(
        await (await fetch(href)).arrayBuffer()).slice(0, 4)]""", href)
    assert bytes(magic) == b"\x89PNG"
    assert newest_job(api)["params"]["num_inference_steps"] == 16
    screenshot(page, shots, "05-done")


def test_a_failed_run_keeps_the_earlier_results(page, web_inputs, shots):
    from playwright.sync_api import expect

    login(page)
    fill(page, web_inputs, steps=2)
    run_and_wait(page)
    expect(page.get_by_test_id("result-image")).to_have_count(1)
    earlier = page.get_by_test_id("result-image").get_attribute("src")
    # the job fails in the worker: a photo with nobody in it and no mask of one's own
    choose_person(page, web_inputs["blank"])
    run_and_wait(page, "Failed")
    error = page.get_by_test_id("error")
    expect(error).to_contain_text("No usable person in the photo")
    expect(page.get_by_test_id("error-detail")).to_contain_text("Preview mask")
    expect(page.get_by_test_id("result-image")).to_have_count(1)
    assert page.get_by_test_id("result-image").get_attribute("src") == earlier
    expect(page.get_by_test_id("result-image")).to_be_visible()
    # refused at submit (422): said in words, and the results still stand
    choose_person(page, web_inputs["person"])
    page.get_by_test_id("n-steps").fill("0")
    run_and_wait(page, "Failed")
    detail = page.get_by_test_id("error-detail").text_content()
    assert detail.startswith("Steps:") and "num_inference_steps" not in detail, detail
    expect(page.get_by_test_id("result-image")).to_have_count(1)
    screenshot(page, shots, "06-failed-keeps-results")


def test_preview_and_correct_the_mask(page, web_inputs, server, shots):
    from playwright.sync_api import expect

    login(page)
    fill(page, web_inputs, steps=2)
    page.get_by_test_id("mask-preview").click()
    editor = page.get_by_test_id("mask-editor")
    expect(editor).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("mask-note")).to_contain_text("covers 25 %")
    screenshot(page, shots, "07-mask-preview")
    paint(page, (30, 40), (50, 40))          # brush: add a patch outside the automatic mask
    page.get_by_test_id("tool-eraser").check()
    paint(page, (182, 256), (202, 256))      # eraser: take a patch out of its middle
    screenshot(page, shots, "08-mask-edited")
    page.get_by_test_id("mask-use").click()
    expect(editor).to_be_hidden()
    expect(page.get_by_test_id("mask-state")).to_have_text("Mask: your corrected mask")
    run_and_wait(page)
    job_id = page.evaluate("() => document.querySelector('[data-testid=history-item]').dataset.id")
    stored = web_inputs["root"] / "data" / "storage" / "inputs" / job_id / "mask.png"
    mask = np.asarray(Image.open(stored).convert("L"))
    assert mask.shape == (512, 384)                      # the photo's size
    assert mask[40, 40] == 255 and mask[256, 192] == 0   # painted in, erased out
    assert mask[150, 120] == 255 and mask[480, 350] == 0  # the automatic mask elsewhere


def test_no_person_found_opens_an_empty_mask_to_paint(page, web_inputs, shots):
    from playwright.sync_api import expect

    login(page)
    fill(page, web_inputs, steps=2, person="blank")
    page.get_by_test_id("mask-preview").click()
    expect(page.get_by_test_id("mask-editor")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("mask-note")).to_have_text(
        "No person found in the photo, so there is no automatic mask: paint the area to replace "
        "with the brush, then use it.")
    page.get_by_test_id("mask-use").click()  # nothing painted yet
    expect(page.get_by_test_id("mask-check")).to_contain_text("The mask is empty")
    paint(page, (192, 170), (192, 256))
    screenshot(page, shots, "09-mask-no-person")
    page.get_by_test_id("mask-use").click()
    run_and_wait(page)  # with the painted mask the run needs no person detection
    expect(page.get_by_test_id("result-image")).to_have_count(1)


def test_history_survives_reload_reruns_and_deletes(browser, server, web_inputs, api, shots):
    from playwright.sync_api import expect

    context, page, errors = open_page(browser, server, viewport={"width": 1280, "height": 900})
    login(page)
    fill(page, web_inputs, steps=2)
    page.get_by_test_id("seed").fill("5")
    run_and_wait(page)
    first = newest_job(api)
    # a run still going on when the page is reloaded is followed again
    page.get_by_test_id("n-steps").fill("24")
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("progress")).to_contain_text("step", timeout=30_000)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.get_by_test_id("progress")).to_contain_text("step", timeout=30_000)
    expect(page.get_by_test_id("status")).to_have_text("Done", timeout=60_000)
    items = page.get_by_test_id("history-item")
    expect(items.first).to_have_attribute("data-status", "succeeded", timeout=10_000)
    older = page.locator(f"[data-testid=history-item][data-id='{first['id']}']")
    expect(older).to_be_visible()
    expect(older.get_by_test_id("history-settings")).to_contain_text("seed 5")
    expect(older.get_by_test_id("history-settings")).to_contain_text("2 steps")
    expect(older.get_by_test_id("history-status")).to_have_text("succeeded")
    page.wait_for_function("""(id) => { const i = document.querySelector(
        `[data-testid=history-item][data-id='${id}'] img`); return i.complete && i.naturalWidth > 0; }""",
                           arg=first["id"])
    screenshot(page, shots, "10-history")
    # re-run with the same seed: a new job, the same picture
    older.get_by_test_id("history-rerun").click()
    expect(page.get_by_test_id("status")).to_have_text("Done", timeout=60_000)
    again = newest_job(api)
    assert again["id"] != first["id"] and again["seed"] == 5
    assert api.get(again["outputs"][0]["url"]).content == \
        api.get(first["outputs"][0]["url"]).content
    expect(page.get_by_test_id("seed-used")).to_have_text("seed 5")
    expect(page.get_by_test_id("seed")).to_have_value("5")   # the form shows what ran
    # delete: two clicks, then it is gone here and on the server
    older = page.locator(f"[data-testid=history-item][data-id='{first['id']}']")
    older.get_by_test_id("history-delete").click()
    expect(older.get_by_test_id("history-delete")).to_have_text("Delete for good?")
    older.get_by_test_id("history-delete").click()
    expect(older).to_have_count(0)
    assert api.get(f"/v1/jobs/{first['id']}").status_code == 404
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator(f"[data-testid=history-item][data-id='{first['id']}']")).to_have_count(0)
    expect(page.locator(f"[data-testid=history-item][data-id='{again['id']}']")).to_be_visible()
    assert not errors, errors
    context.close()


def test_cancel(page, web_inputs, shots):
    from playwright.sync_api import expect

    login(page)
    fill(page, web_inputs, steps=MAX_STEPS)
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("progress")).to_contain_text("step", timeout=30_000)
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("status")).to_have_text("Canceled", timeout=30_000)
    expect(page.get_by_test_id("run")).to_be_enabled()
    screenshot(page, shots, "11-canceled")


CUT_LABELS = """() => {
  const measure = document.createElement('canvas').getContext('2d');
  const cut = [];
  for (const el of document.querySelectorAll('label, select, button, h1, h2, summary, p')) {
    if (!el.offsetParent) continue;                       // hidden
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 1 || el.scrollWidth > el.clientWidth + 1) {
      cut.push(el.id || el.textContent.trim().slice(0, 30));
    }
    if (el.tagName === 'SELECT' && el.selectedOptions.length) {
      const style = getComputedStyle(el);
      measure.font = `${style.fontSize} ${style.fontFamily}`;
      const text = measure.measureText(el.selectedOptions[0].text).width;
      if (text + 28 > el.clientWidth) cut.push(`${el.id}: ${el.selectedOptions[0].text}`);
    }
  }
  return cut;
}"""


def test_phone_scrolls_to_the_result_and_cuts_no_label(browser, server, web_inputs, api, shots):
    from playwright.sync_api import expect

    context, page, errors = open_page(browser, server, viewport={"width": 390, "height": 844},
                                      is_mobile=True, has_touch=True, device_scale_factor=2)
    login(page)
    for model in [m["id"] for m in api.get("/v1/models").json()["models"]]:
        page.get_by_test_id("model").select_option(model)
        assert page.evaluate(CUT_LABELS) == [], model
    page.get_by_test_id("model").select_option("ootd-dc")
    fill(page, web_inputs, steps=3)
    assert page.evaluate(CUT_LABELS) == []
    screenshot(page, shots, "12-phone-form")
    assert page.evaluate("document.getElementById('output').getBoundingClientRect().top") > 844
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("status")).to_have_text("Done", timeout=60_000)
    expect(page.get_by_test_id("result-image")).to_be_in_viewport()
    top = page.evaluate("document.getElementById('output').getBoundingClientRect().top")
    assert -1 <= top < 844 / 2, top  # the result is on screen, not below the fold
    page.screenshot(path=str(shots / "13-phone-result.png"))  # what the phone shows now
    print(f"screenshot: {shots / '13-phone-result.png'}")
    assert not errors, errors
    context.close()


def test_page_weight(server):
    """Bytes of the page as served (HTML + every JS module + CSS), printed for the record."""
    with httpx.Client(base_url=server) as client:
        html = client.get("/ui/").text
        parts = {"index.html": len(html.encode())}
        queue = re.findall(r'(?:src|href)="(/ui/[^"]+\.(?:js|css))"', html)
        while queue:
            path = queue.pop()
            if path in parts:
                continue
            body = client.get(path).text
            parts[path] = len(body.encode())
            queue += [f"/ui/{name}" for name in re.findall(r'from "\./([\w.]+\.js)"', body)]
    total = sum(parts.values())
    print(f"page weight: {total} bytes ({', '.join(f'{k} {v}' for k, v in sorted(parts.items()))})")
    web = REPO / "vto" / "service" / "web"
    assert set(parts) == {"index.html", "/ui/style.css",
                          *(f"/ui/{path.name}" for path in web.glob("*.js"))}  # all counted
    assert total < 80_000
