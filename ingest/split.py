"""Split stage: cut documents along headings, then by size, into citable chunks.

Tables are kept as whole rows, each chunk of a table repeating its header row, so a
passage shown to a user is always a readable table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ingest.load import SourceDocument
from ingest.sentences import NOT_AN_END

MAX_CHUNK_CHARS = 900
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FOOTNOTE_DEF_RE = re.compile(r"^\[\^[^\]]+\]:")
_TABLE_SEPARATOR_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
# A sentence ends at . ! ? before a capital or an opening quote, except after the usual
# German abbreviations ("z. B. Firewall", "u. a. Tickets").
_SENTENCE_END_RE = re.compile(r"(?<=[.!?:])\s+(?=[A-ZÄÖÜ„\"'(\[0-9])")
_ABBREVIATIONS = (
    "z. B.",
    "z.B.",
    "u. a.",
    "d. h.",
    "ggf.",
    "bzw.",
    "ca.",
    "inkl.",
    "vgl.",
    "u.a.",
    "S.",
    "Nr.",
    "Dr.",
)
_QUOTE_CHARS = "\"'„“”«»‚‘’ "


@dataclass(frozen=True)
class Chunk:
    """A citable passage: the unit stored in ChromaDB and in the lexical index.

    ``chunk_id`` is a content hash, so an unchanged passage keeps its id across ingests.
    """

    chunk_id: str
    doc_id: str
    title: str
    source: str
    language: str
    heading: str
    position: int
    text: str
    doc_hash: str

    @property
    def search_text(self) -> str:
        """What the embedder and the lexical index see: context, then the passage."""
        context = " > ".join(part for part in (self.title, self.heading) if part)
        return f"{context}\n\n{self.text}" if context else self.text

    def metadata(self) -> dict[str, str | int]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "language": self.language,
            "heading": self.heading,
            "position": self.position,
            "doc_hash": self.doc_hash,
        }


@dataclass
class _Section:
    path: list[str]
    blocks: list[str]
    heading_line: str = ""


def _blocks(lines: list[str]) -> list[str]:
    """Group lines into blocks separated by blank lines; a table is always one block."""
    blocks: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        is_table = line.lstrip().startswith("|")
        if current and is_table != current[-1].lstrip().startswith("|"):
            blocks.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _sections(text: str) -> list[_Section]:
    """Cut a Markdown body at its headings; each section knows its heading path."""
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    heading_line = ""

    def flush() -> None:
        body = [b for b in _blocks(lines) if not _FOOTNOTE_DEF_RE.match(b.strip())]
        footnotes = [b for b in _blocks(lines) if _FOOTNOTE_DEF_RE.match(b.strip())]
        if body or footnotes:
            sections.append(_Section([title for _, title in path], body + footnotes, heading_line))

    for line in text.split("\n"):
        match = _HEADING_RE.match(line)
        if match:
            flush()
            lines = []
            heading_line = line.strip() if len(match.group(1)) > 1 else ""
            level = len(match.group(1))
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, match.group(2))]
        else:
            lines.append(line)
    flush()
    return sections


def _split_table(block: str, max_chars: int) -> list[str]:
    rows = block.split("\n")
    if len(rows) >= 2 and _TABLE_SEPARATOR_RE.match(rows[1].strip()):
        header, body = rows[:2], rows[2:]
    else:
        header, body = [], rows
    parts: list[str] = []
    current: list[str] = []
    for row in body:
        candidate = "\n".join(header + current + [row])
        if current and len(candidate) > max_chars:
            parts.append("\n".join(header + current))
            current = []
        current.append(row)
    if current or not parts:
        parts.append("\n".join(header + current))
    return parts


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph (white space kept inside each sentence)."""
    parts: list[str] = []
    for piece in _SENTENCE_END_RE.split(text):
        # "(z. B. in einer Auftragsflaute)" is split after "(z." before the capital "B.":
        # without this the chunk boundary would cut a quote in two
        if parts and (
            parts[-1].endswith(_ABBREVIATIONS) or NOT_AN_END.search(parts[-1])
        ):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return [p for p in parts if p.strip()]


def _split_prose(block: str, max_chars: int) -> list[str]:
    """Cut a long paragraph at sentence ends into pieces of about equal size."""
    units = sentences(block)
    pieces_needed = -(-len(block) // max_chars)
    target = len(block) / pieces_needed
    pieces: list[str] = []
    current = ""
    for unit in units:
        joined = f"{current} {unit}" if current else unit
        if current and (len(joined) > max_chars or len(current) >= target):
            pieces.append(current)
            current = unit
        else:
            current = joined
    if current:
        pieces.append(current)
    # A single sentence longer than the limit stays whole: cutting it would misquote it.
    return pieces


def _pieces(block: str, max_chars: int) -> list[str]:
    if len(block) <= max_chars:
        return [block]
    if block.lstrip().startswith("|"):
        return _split_table(block, max_chars)
    if block.lstrip().startswith("- ") and "\n- " in block:
        items = re.split(r"\n(?=- )", block)
        out: list[str] = []
        current = ""
        for item in items:
            joined = f"{current}\n{item}" if current else item
            if current and len(joined) > max_chars:
                out.append(current)
                current = item
            else:
                current = joined
        return [p for piece in [*out, current] for p in _pieces_prose_fallback(piece, max_chars)]
    return _split_prose(block, max_chars)


def _pieces_prose_fallback(piece: str, max_chars: int) -> list[str]:
    return [piece] if len(piece) <= max_chars else _split_prose(piece, max_chars)


def _chunk_id(doc_id: str, heading: str, text: str, seen: set[str]) -> str:
    digest = hashlib.sha256(f"{doc_id}\x00{heading}\x00{text}".encode()).hexdigest()[:16]
    chunk_id, n = f"{doc_id}:{digest}", 1
    while chunk_id in seen:  # the same passage twice in one document
        n += 1
        chunk_id = f"{doc_id}:{digest}-{n}"
    seen.add(chunk_id)
    return chunk_id


def split_document(doc: SourceDocument, max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """Chunks of one document, in reading order; never crosses a heading."""
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in _sections(doc.text):
        # The document title is the top heading; repeating it in the path adds nothing.
        title = doc.title.strip(_QUOTE_CHARS)
        path = [p for p in section.path if p.strip(_QUOTE_CHARS) != title]
        heading = " > ".join(path)
        texts: list[str] = []
        current = ""
        for block in section.blocks:
            for piece in _pieces(block, max_chars):
                joined = f"{current}\n\n{piece}" if current else piece
                # Prose after a table starts a new chunk; an intro line before one stays.
                ends_in_table = current.rstrip().split("\n")[-1].lstrip().startswith("|")
                # "… Bereiche wie diese:" belongs with the list or table it introduces.
                limit = max_chars * 3 // 2 if current.rstrip().endswith(":") else max_chars
                if current and (len(joined) > limit or ends_in_table):
                    texts.append(current)
                    current = piece
                else:
                    current = joined
        if current:
            texts.append(current)
        if texts and section.heading_line:
            # The section's first passage starts with its heading, as in the document:
            # a heading often carries the words a reader asks with.
            texts[0] = f"{section.heading_line}\n\n{texts[0]}"
        for text in texts:
            chunks.append(
                Chunk(
                    chunk_id=_chunk_id(doc.doc_id, heading, text, seen),
                    doc_id=doc.doc_id,
                    title=doc.title,
                    source=doc.source,
                    language=doc.language,
                    heading=heading,
                    position=len(chunks),
                    text=text.strip(),
                    doc_hash=doc.content_hash,
                )
            )
    return chunks


def split_documents(docs: list[SourceDocument], max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    return [chunk for doc in docs for chunk in split_document(doc, max_chars)]
