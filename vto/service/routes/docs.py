"""Offline API docs: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from vto's own copies.

FastAPI's built-in pages load Swagger UI, ReDoc, a favicon and Google Fonts from CDNs, so they
are blank on an air-gapped GPU server. :func:`install_docs` replaces them with the same pages
pointing at the pinned copies in ``vto/service/docs_assets`` (served under ``/docs-assets/``),
no web fonts, and Swagger UI's online validator badge off. A Content-Security-Policy on both
pages lets the browser load nothing from anywhere but this server (ReDoc 2 always shows a
"by Redocly" logo from its CDN: the policy stops that request before it is made), so opening
the docs never reaches out, air-gapped or not. Call it once on the app (``create_app`` does); FastAPI's own
``docs_url``/``redoc_url`` routes are removed if present.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (get_redoc_html, get_swagger_ui_html,
                                  get_swagger_ui_oauth2_redirect_html)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(__file__).resolve().parent.parent / "docs_assets"
ASSETS_URL = "/docs-assets"
# Inline scripts/styles: FastAPI's pages start the UIs inline. blob: workers: ReDoc's search.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
       "frame-ancestors 'self'")
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install_docs(app: FastAPI) -> None:
    """Serve the docs pages and their assets from this server (see the module docstring)."""
    replaced = {DOCS_URL, REDOC_URL, OAUTH2_REDIRECT_URL, app.docs_url, app.redoc_url,
                app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in replaced]
    app.docs_url, app.redoc_url = DOCS_URL, REDOC_URL
    app.swagger_ui_oauth2_redirect_url = OAUTH2_REDIRECT_URL
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def prefix(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")  # behind a proxy's path prefix

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        return _locked(get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"), title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL, init_oauth=app.swagger_ui_init_oauth,
            # validatorUrl None: no badge fetched from validator.swagger.io
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None}))

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        return _locked(get_redoc_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"), title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png", with_google_fonts=False))


def _locked(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page
