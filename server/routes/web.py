"""Pages: the demo landing page, the widget script, the staff playground, and the source pages
the widget's citations link to (the whole document, the cited passage marked)."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response

from server.deps import ChatbotDep, SettingsDep

__all__ = ["PAGE_CSP", "router"]

router = APIRouter(tags=["pages"], include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
# The pages the advisor serves load nothing from elsewhere and nothing inline.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_FILES = {
    "widget.js": "application/javascript; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
    "playground.js": "application/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
DocId = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")]


# A script says `/* @include markdown.js */` where a shared part of web/ goes: the widget must
# stay one file for the sites that embed it, and the playground renders answers the same way.
_INCLUDE = re.compile(r"/\* @include ([a-z0-9-]+\.js) \*/")


def _file(name: str) -> FileResponse:
    path = WEB_DIR / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"{name} is not installed")
    return FileResponse(path, media_type=_FILES.get(name, "text/html; charset=utf-8"))


@lru_cache(maxsize=16)
def _assembled(name: str, versions: tuple[int, ...]) -> bytes:
    """The script with its includes put in; cached per file version (a changed file on disk
    is served changed, without a restart)."""
    text = (WEB_DIR / name).read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: (WEB_DIR / m.group(1)).read_text(encoding="utf-8"), text).encode(
        "utf-8"
    )


def _script(name: str) -> Response:
    path = WEB_DIR / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"{name} is not installed")
    parts = [path, *(WEB_DIR / n for n in _INCLUDE.findall(path.read_text(encoding="utf-8")))]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise HTTPException(status_code=404, detail=f"{missing[0]} is not installed")
    body = _assembled(name, tuple(p.stat().st_mtime_ns for p in parts))
    return Response(body, media_type=_FILES[name])


@router.get("/")
def demo_page() -> FileResponse:
    return _file("demo.html")


@router.get("/playground")
def playground_page(settings: SettingsDep) -> FileResponse:
    if settings.staff_token is None:
        raise HTTPException(status_code=404, detail="the playground is off (no staff token)")
    return _file("playground.html")


@router.get("/{name}", response_model=None)
def static_file(name: str) -> Response:
    if name not in _FILES:
        raise HTTPException(status_code=404, detail=f"no page {name!r}")
    response = _script(name) if name.endswith(".js") else _file(name)
    # the widget script is embedded by other sites: let them cache it for a while
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@router.get("/sources/{doc_id}", response_class=HTMLResponse)
def source_page(
    doc_id: DocId,
    bot: ChatbotDep,
    request: Request,
    passage: Annotated[
        str | None, Query(max_length=120, pattern=r"^[a-z0-9-]+:[0-9a-f]+(?:-\d+)?$")
    ] = None,
) -> HTMLResponse:
    """The whole document as escaped HTML, with the cited passage marked (``#passage``)."""
    index = bot.retriever.index.refresh()
    chunks = sorted(
        (
            (int(meta.get("position", 0)), cid)
            for cid, meta in index.metadata.items()
            if meta.get("doc_id") == doc_id
        ),
    )
    if not chunks:
        raise HTTPException(status_code=404, detail=f"unknown document {doc_id!r}")
    title = str(index.metadata[chunks[0][1]].get("title", doc_id))
    marked = passage if passage and any(cid == passage for _, cid in chunks) else None
    parts: list[str] = []
    for _, cid in chunks:
        body = _render(index.texts.get(cid, ""))
        if cid == marked:
            parts.append(f'<section class="passage" id="passage"><mark>{body}</mark></section>')
        else:
            parts.append(f"<section>{body}</section>")
    page = _PAGE.format(
        title=html.escape(title),
        doc_id=html.escape(doc_id),
        body="\n".join(parts),
        note=(
            "Die markierte Stelle ist die zitierte Passage."
            if marked
            else "Quelle, wie sie der Berater zitiert."
        ),
    )
    return HTMLResponse(page)


def _render(text: str) -> str:
    """A passage's Markdown as plain, escaped paragraphs (headings and rows kept as lines)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [html.escape(line.strip().lstrip("#").strip()) for line in block.splitlines()]
        lines = [line for line in lines if line and not re.fullmatch(r"[|:\- ]+", line)]
        if lines:
            out.append("<p>" + "<br>".join(lines) + "</p>")
    return "\n".join(out)


_PAGE = """<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – Quelle</title>
<link rel="stylesheet" href="/demo.css">
</head>
<body class="source-page">
<main>
<p class="source-note">{note}</p>
<h1>{title}</h1>
<p class="source-id">Dokument: {doc_id}</p>
{body}
</main>
</body>
</html>
"""
