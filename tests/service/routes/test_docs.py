"""Offline API docs: /docs and /redoc render in Debian's headless Chromium with every request
that is not to the server itself blocked (and none attempted), on the real app."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from vto.service.routes.docs import ASSETS_DIR

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def test_docs_pages_point_at_local_assets_only(server):
    with server.client() as client:
        for url, assets in (("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
                            ("/redoc", ["redoc.standalone.js"])):
            page = client.get(url)
            assert page.status_code == 200, url
            assert "http://" not in page.text and "https://" not in page.text, url
            for name in assets:
                assert f'"/docs-assets/{name}"' in page.text
                asset = client.get(f"/docs-assets/{name}")
                assert asset.status_code == 200 and asset.content == (ASSETS_DIR / name).read_bytes()
            assert "default-src 'self'" in page.headers["content-security-policy"]
        schema = client.get("/openapi.json").json()
        assert "/docs" not in schema["paths"] and "/docs-assets/{path}" not in schema["paths"]
        assert client.get("/docs/oauth2-redirect").status_code == 200


def test_a_proxy_prefix_reaches_the_assets(server):
    from fastapi.testclient import TestClient

    with TestClient(server.app, root_path="/api") as client:
        text = client.get("/docs").text
        assert '"/api/docs-assets/swagger-ui-bundle.js"' in text and "'/api/openapi.json'" in text


def test_licences_ship_with_the_assets():
    for name in ("swagger-ui-LICENSE", "swagger-ui-NOTICE", "redoc-LICENSE", "README.md"):
        assert (ASSETS_DIR / name).is_file(), name


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update",
                  "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.mark.browser
@pytest.mark.parametrize("path, operation", [
    ("/docs", "#operations-jobs-create_tryon_v1_tryon_post"),
    ("/redoc", "[data-section-id='tag/jobs/operation/create_tryon_v1_tryon_post']"),
])
def test_docs_render_with_the_network_cut_off(browser, server, tmp_path, path, operation):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    local: list[str] = []

    def only_loopback(route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            local.append(url)
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", only_loopback)
    errors: list[str] = []
    refused: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: refused.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.goto(server.url + path)
    page.wait_for_selector(operation, timeout=60_000)
    assert "/v1/tryon" in page.inner_text("body")
    folder = Path(os.environ.get("VTO_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"docs{path.replace('/', '-')}.png"))
    context.close()
    assert outside == [], f"the page tried to reach the network: {outside}"
    assert not errors, f"JavaScript errors: {errors}"
    assert any(u.endswith("/openapi.json") for u in local)  # the schema came from the server
    # The page's policy stops the one outside request ReDoc 2 always makes (its badge logo)
    # before it is made; nothing else may be refused (it would mean a missing local asset).
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in text for text in refused), refused
