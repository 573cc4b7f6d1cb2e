"""Load stage: read source files (.md, .txt, .pdf, .html) from a folder into SourceDocuments."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingest.clean import clean_text
from ingest.yamlfile import safe_load

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".html", ".htm")
# Files in the knowledge folder that are not documents.
_IGNORED_NAMES = {"README.md", "REPAIRS.yaml"}
_FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


@dataclass(frozen=True)
class SourceDocument:
    """One source document, cleaned, with the metadata every chunk inherits."""

    doc_id: str
    title: str
    source: str
    language: str
    text: str
    path: Path
    content_hash: str
    # an English rendering of the title (front matter `title_en`), marked as a translation
    # where it is shown: the advisor names its sources in the visitor's language
    title_en: str = ""


@dataclass(frozen=True)
class LoadError:
    """A file that could not be read; ingestion reports it by name and goes on."""

    path: Path
    reason: str


@dataclass
class LoadResult:
    documents: list[SourceDocument] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


class UnreadableDocument(Exception):
    """Raised by a reader when a file is damaged or not in the expected encoding."""


def slugify(name: str) -> str:
    """A readable id from a file name: lower case ASCII, umlauts transliterated."""
    name = name.lower()
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        name = name.replace(src, dst)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "document"


def _read_utf8(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            f"not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from exc


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def _parse_markdown(path: Path) -> tuple[dict[str, str], str]:
    raw = _read_utf8(path)
    meta: dict[str, str] = {}
    match = _FRONT_MATTER_RE.match(raw)
    if match:
        try:
            loaded = safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise UnreadableDocument(f"front matter is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise UnreadableDocument("front matter must be a mapping")
        meta = {str(k): str(v) for k, v in loaded.items() if v is not None}
        raw = raw[match.end() :]
    return meta, raw


def _read_pdf(path: Path) -> tuple[dict[str, str], str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise UnreadableDocument(f"unreadable PDF: {exc}") from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise UnreadableDocument("PDF has no extractable text (scanned image?)")
    return ({"title": title} if title else {}), text


def _read_html(path: Path) -> tuple[dict[str, str], str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_utf8(path), "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "header", "noscript"]):
        tag.decompose()
    meta: dict[str, str] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    if soup.html and soup.html.get("lang"):
        meta["language"] = str(soup.html.get("lang")).split("-")[0]
    # Headings become Markdown headings so the splitter can cut along them.
    blocks: list[str] = []
    body = soup.body or soup
    for el in body.find_all(["h1", "h2", "h3", "h4", "p", "li", "tr"]):
        text = " ".join(el.get_text(" ", strip=True).split())
        if not text:
            continue
        if el.name in ("h1", "h2", "h3", "h4"):
            blocks.append("#" * int(el.name[1]) + " " + text)
        elif el.name == "li":
            blocks.append("- " + text)
        elif el.name == "tr":
            cells = [
                " ".join(c.get_text(" ", strip=True).split()) for c in el.find_all(["th", "td"])
            ]
            blocks.append("| " + " | ".join(cells) + " |")
        else:
            blocks.append(text)
    return meta, "\n\n".join(blocks)


def read_document(path: Path) -> SourceDocument:
    """Read one file; raise UnreadableDocument with a reason a person can act on."""
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        meta, text = _parse_markdown(path)
    elif suffix == ".txt":
        meta, text = {}, _read_utf8(path)
    elif suffix == ".pdf":
        meta, text = _read_pdf(path)
    elif suffix in (".html", ".htm"):
        meta, text = _read_html(path)
    else:
        raise UnreadableDocument(f"unsupported file type {suffix!r}")
    text = clean_text(text)
    if not text.strip():
        raise UnreadableDocument("file is empty")
    doc_id = slugify(meta.get("id") or path.stem)
    title = meta.get("title") or _first_line_title(text) or path.stem
    digest = hashlib.sha256("\x00".join([doc_id, title, text]).encode("utf-8")).hexdigest()
    return SourceDocument(
        doc_id=doc_id,
        title=title,
        source=meta.get("source") or path.name,
        language=meta.get("language") or "de",
        text=text,
        path=path,
        content_hash=digest,
        title_en=str(meta.get("title_en") or ""),
    )


def iter_source_files(folder: Path) -> Iterable[Path]:
    for path in sorted(folder.rglob("*")):
        if (
            path.is_file()
            and path.suffix.lower() in SUPPORTED_SUFFIXES
            and path.name not in _IGNORED_NAMES
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
            and "rules" not in path.relative_to(folder).parts[:-1]
        ):
            yield path


def load_folder(folder: Path) -> LoadResult:
    """Read every supported file below ``folder``; broken files become LoadErrors."""
    result = LoadResult()
    seen: dict[str, Path] = {}
    for path in iter_source_files(folder):
        try:
            doc = read_document(path)
        except UnreadableDocument as exc:
            result.errors.append(LoadError(path, str(exc)))
            continue
        except OSError as exc:
            result.errors.append(LoadError(path, f"cannot read file: {exc.strerror}"))
            continue
        if doc.doc_id in seen:
            result.errors.append(
                LoadError(
                    path, f"duplicate document id {doc.doc_id!r} (also {seen[doc.doc_id].name})"
                )
            )
            continue
        seen[doc.doc_id] = path
        result.documents.append(doc)
    return result
