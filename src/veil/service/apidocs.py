"""``/docs``: the OpenAPI reference, from Swagger UI files shipped in the wheel.

FastAPI's default page loads Swagger UI from a CDN, which an air-gapped hospital network
cannot reach and which would let a third party's script run on veil's origin. The page
here loads only ``/static/swagger/`` (see its README for the version and checksum), and
its Content-Security-Policy forbids anything else, inline script included.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "static" / "swagger"
PREFIX = "/static/swagger"

#: Swagger UI sets inline styles and draws icons as data: URIs; nothing runs from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} — API reference</title>
<link rel="stylesheet" href="{prefix}/swagger-ui.css">
<link rel="icon" type="image/png" href="{prefix}/favicon-32x32.png">
</head>
<body data-openapi="{openapi}">
<div id="swagger-ui"></div>
<script src="{prefix}/swagger-ui-bundle.js"></script>
<script src="{prefix}/veil-docs.js"></script>
</body>
</html>
"""


def mount_docs(app: FastAPI, path: str = "/docs") -> None:
    """Serve the bundled Swagger UI at ``path`` (create the app with ``docs_url=None``)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="swagger-assets")
    html = PAGE.format(title=app.title, prefix=PREFIX, openapi=app.openapi_url or "")

    @app.get(path, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
