"""GET /docs: Swagger UI from the advisor's own files, under the pages' strict CSP.

FastAPI's /docs loads Swagger UI from a CDN and starts it with an inline script; a browser
that cannot reach the CDN shows an empty page, and the inline script needs 'unsafe-inline'.
Here the assets come from the fastapi-offline package and the start-up is web/swagger-init.js.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from server.routes.web import WEB_DIR

__all__ = ["router"]

router = APIRouter(tags=["docs"], include_in_schema=False)

_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
_ASSETS = {
    "swagger-ui-bundle.js": (_ASSETS_DIR, "application/javascript; charset=utf-8"),
    "swagger-ui.css": (_ASSETS_DIR, "text/css; charset=utf-8"),
    "favicon.png": (_ASSETS_DIR, "image/png"),
    "swagger-init.js": (WEB_DIR, "application/javascript; charset=utf-8"),
}
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>IT-Outsourcing-Berater – API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" href="/docs/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE)


@router.get("/docs/{name}")
def docs_asset(name: str) -> FileResponse:
    # only the names above: the path never reaches the file system
    if name not in _ASSETS:
        raise HTTPException(status_code=404, detail=f"no such file {name!r}")
    folder, media_type = _ASSETS[name]
    response = FileResponse(folder / name, media_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
