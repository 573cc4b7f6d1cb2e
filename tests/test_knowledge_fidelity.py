"""Fidelity of the knowledge base: knowledge/*.md must be the seed documents verbatim.

Each knowledge file is a seed text turned into Markdown. Only extraction damage may be
repaired, and every such repair (other than layout) is listed in knowledge/REPAIRS.yaml.
These tests check, per document:

* the front matter (id, title, source, language; id == file stem);
* every sentence, heading and table cell of the source (after REPAIRS.yaml) appears in the
  Markdown body, in source order, once Markdown syntax is stripped and white space folded;
* the reverse: the Markdown body contains nothing beyond the source text (no unmatched
  text, word count within 1 %).

The raw seeds are read from tests/data/seeds (byte-identical copies), or from
../shared/seeds next to the repository if the copies are missing; without either the
tests are skipped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"
REPAIRS_FILE = KNOWLEDGE / "REPAIRS.yaml"
LOCAL_SEEDS = REPO / "tests" / "data" / "seeds"
SHARED_SEEDS = REPO.parent / "shared" / "seeds"

# knowledge file stem -> seed file
EXPECTED = {
    "it-outsourcing-mittelstand": "000_fb5fc785117a1600.txt",
    "it-outsourcing-glossar": "001_8a15596710f7caa9.txt",
    "whitepaper-it-im-mittelstand": "002_68035aa42495f944.txt",
    "interne-vs-externe-it-services": "003_f9ceab2f68fc54b2.txt",
    "das-bisschen-it": "004_4421703e8d6f0c7b.txt",
}

WORD_COUNT_TOLERANCE = 0.01

_SPACE_RE = re.compile(r"[\s\u00a0\u202f\u2009\u200b\ufeff]+")
_FRONT_MATTER_RE = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_HEADING_RE = re.compile(r"^#{1,6}\s+")
_MD_BULLET_RE = re.compile(r"^\s*[-*+]\s+")
_SRC_BULLET_RE = re.compile(r"^[-•*]\s+")
_FOOTNOTE_DEF_RE = re.compile(r"^\[\^([^\]]+)\]:\s*(.*)$")
_FOOTNOTE_REF_RE = re.compile(r"\[\^([^\]]+)\]")
_TABLE_SEPARATOR_CELL_RE = re.compile(r"^:?-{3,}:?$")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ„“\"(])")
# A period after these does not end a sentence ("z. B.", "ggf.", "ca.").
_ABBREVIATION_RE = re.compile(r"(?:^|[\s(])(?:z|B|d|h|u|a|ca|ggf|bzw|etc|vgl|inkl|Nr)\.$")


# ------------------------------------------------------------------ helpers


def fold(text: str) -> str:
    """Every run of white space (incl. no-break and narrow spaces, tabs) -> one space."""
    return _SPACE_RE.sub(" ", text).strip()


def split_sentences(text: str) -> list[str]:
    pieces: list[str] = []
    for piece in _SENTENCE_END_RE.split(text):
        if pieces and _ABBREVIATION_RE.search(pieces[-1]):
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    return [p for p in pieces if p]


def split_front_matter(markdown: str) -> tuple[dict, str, str]:
    """(parsed front matter, raw front matter text, body)."""
    match = _FRONT_MATTER_RE.match(markdown)
    assert match, "file must start with YAML front matter between '---' lines"
    meta = yaml.safe_load(match.group(1))
    assert isinstance(meta, dict), "front matter must be a mapping"
    return meta, match.group(1), markdown[match.end() :]


def apply_repairs(source: str, repairs: dict | None) -> str:
    """Apply one file's REPAIRS.yaml entry to the raw source text."""
    repairs = repairs or {}
    for entry in repairs.get("removed") or []:
        context = entry.get("in", entry["text"])
        count = source.count(context)
        assert count == 1, f"REPAIRS: {context!r} occurs {count} times in the source, not once"
        assert entry["text"] in context, f"REPAIRS: {entry['text']!r} not inside {context!r}"
        source = source.replace(context, context.replace(entry["text"], "", 1))
    for entry in repairs.get("replaced") or []:
        count = source.count(entry["from"])
        assert count == 1, f"REPAIRS: {entry['from']!r} occurs {count} times in the source"
        source = source.replace(entry["from"], entry["to"])
    return source


@dataclass
class MarkdownText:
    text: str  # folded body text, Markdown syntax and footnote definitions removed
    footnotes: list[str]  # folded footnote definition texts
    table_rows: list[list[str]]  # folded cells of every table row (header rows included)
    footnote_refs: set[str] = field(default_factory=set)
    footnote_ids: list[str] = field(default_factory=list)


def normalise_markdown(body: str, drop_h1: bool = False) -> MarkdownText:
    """Strip Markdown syntax (headings, lists, tables, footnotes) and fold white space."""
    lines: list[str] = []
    footnotes: list[str] = []
    footnote_ids: list[str] = []
    rows: list[list[str]] = []
    refs = set(_FOOTNOTE_REF_RE.findall(body))
    for line in body.split("\n"):
        stripped = line.strip()
        definition = _FOOTNOTE_DEF_RE.match(stripped)
        if definition:
            footnote_ids.append(definition.group(1))
            footnotes.append(fold(definition.group(2)))
            continue
        stripped = _FOOTNOTE_REF_RE.sub("", stripped)
        if stripped.startswith("|"):
            cells = [fold(c) for c in stripped.strip("|").split("|")]
            if all(_TABLE_SEPARATOR_CELL_RE.match(c) for c in cells):
                continue
            rows.append(cells)
            lines.append(" ".join(cells))
            continue
        if drop_h1 and stripped.startswith("# "):
            continue
        stripped = _HEADING_RE.sub("", stripped)
        stripped = _MD_BULLET_RE.sub("", stripped, count=1)
        lines.append(stripped)
    return MarkdownText(fold("\n".join(lines)), footnotes, rows, refs, footnote_ids)


def source_pieces(source: str, markdown: MarkdownText) -> list[str]:
    """The units every one of which must appear in the Markdown: sentences of each raw
    source line (or tab-separated cell); a run-together table row is split into the cells
    of the Markdown table row whose cells, concatenated, give exactly that source line."""
    run_together = {"".join(cells): cells for cells in markdown.table_rows}
    pieces: list[str] = []
    for raw in source.split("\n"):
        line = _SRC_BULLET_RE.sub("", raw.strip(), count=1)
        for cell in line.split("\t"):
            cell = fold(cell)
            if not cell:
                continue
            if cell not in markdown.text and cell in run_together:
                pieces.extend(c for c in run_together[cell] if c)
            else:
                pieces.extend(split_sentences(cell))
    return pieces


@dataclass
class Comparison:
    missing: list[str]  # source pieces not found at their place in the Markdown
    out_of_order: list[str]  # source pieces found only earlier in the Markdown
    extra: list[str]  # Markdown text not accounted for by the source, in order
    source_words: int
    markdown_words: int

    @property
    def word_ratio(self) -> float:
        return self.markdown_words / max(self.source_words, 1)


def compare(source: str, repairs: dict | None, body: str, drop_h1: bool = False) -> Comparison:
    """Align the pieces of a raw source text (after its repairs) with a Markdown body.

    The normalised Markdown must be exactly the source pieces, in source order, separated by
    single spaces (a line join that glues two words together is reported too). Footnote
    lines may move: they are matched against the footnote definitions instead.
    """
    markdown = normalise_markdown(body, drop_h1=drop_h1)
    text = markdown.text
    footnotes = Counter(markdown.footnotes)
    pieces: list[str] = []
    footnote_words = 0
    for piece in source_pieces(apply_repairs(source, repairs), markdown):
        if footnotes[piece] > 0:
            footnotes[piece] -= 1
            footnote_words += len(piece.split())
        else:
            pieces.append(piece)
    missing: list[str] = []
    out_of_order: list[str] = []
    extra: list[str] = []
    cursor = 0

    def at(pos: int, piece: str) -> bool:
        return text.startswith((" " if pos else "") + piece, pos)

    for index, piece in enumerate(pieces):
        if at(cursor, piece):
            cursor += len(piece) + (1 if cursor else 0)
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        if following is not None and at(cursor, following):
            missing.append(piece)  # the Markdown goes straight on with the next piece
            continue
        found = text.find(piece, cursor)
        if following is not None and 0 <= text.find(following, cursor) < found:
            missing.append(piece)  # found only after the next piece: not at its place
            continue
        if found >= 0:
            gap = text[cursor:found].strip()
            extra.append(gap if gap else f"[words glued together] ...{piece[:60]}")
            cursor = found + len(piece)
        elif piece in text:
            out_of_order.append(piece)
        else:
            missing.append(piece)
    if text[cursor:].strip():
        extra.append(text[cursor:].strip())
    extra.extend(f"[footnote] {f}" for f in footnotes.elements())
    markdown_words = len(text.split()) + sum(len(f.split()) for f in markdown.footnotes)
    source_words = sum(len(p.split()) for p in pieces) + footnote_words
    return Comparison(missing, out_of_order, extra, source_words, markdown_words)


# ------------------------------------------------------------------ fixtures


def _seeds_dir() -> Path | None:
    for candidate in (LOCAL_SEEDS, SHARED_SEEDS):
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="module")
def seeds() -> Path:
    folder = _seeds_dir()
    if folder is None:
        pytest.skip("no seed sources (tests/data/seeds or ../shared/seeds)")
    return folder


@pytest.fixture(scope="module")
def repairs() -> dict:
    data = yaml.safe_load(REPAIRS_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("files"), dict)
    return data["files"]


def _read(stem: str) -> str:
    return (KNOWLEDGE / f"{stem}.md").read_text(encoding="utf-8")


def _title_supplied(raw_front_matter: str) -> bool:
    return any(
        line.lstrip().startswith("#") and "supplied" in line
        for line in raw_front_matter.splitlines()
    )


# ------------------------------------------------------------------ tests


def test_knowledge_folder_has_the_expected_documents() -> None:
    found = {p.stem for p in KNOWLEDGE.glob("*.md")}
    assert set(EXPECTED) <= found, f"missing: {set(EXPECTED) - found}"


def test_repairs_file_covers_every_source(repairs: dict) -> None:
    assert set(repairs) == set(EXPECTED.values())
    for stem, source in EXPECTED.items():
        assert repairs[source]["knowledge"] == f"{stem}.md"


def test_seed_copies_are_byte_identical_to_shared() -> None:
    if not LOCAL_SEEDS.is_dir():
        pytest.skip("no local seed copies")
    local = {p.name for p in LOCAL_SEEDS.glob("*.txt")}
    assert local == set(EXPECTED.values())
    if not SHARED_SEEDS.is_dir():
        pytest.skip("../shared/seeds not present")
    for name in sorted(local):
        assert (LOCAL_SEEDS / name).read_bytes() == (SHARED_SEEDS / name).read_bytes(), name


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_front_matter_and_structure(stem: str) -> None:
    meta, raw_front, body = split_front_matter(_read(stem))
    for key in ("id", "title", "title_en", "source", "language"):
        assert isinstance(meta.get(key), str) and meta[key].strip(), f"{stem}: no {key}"
    assert meta["id"] == stem
    assert meta["source"] == EXPECTED[stem]
    assert meta["language"] == "de"
    keys = [
        line.split(":", 1)[0]
        for line in raw_front.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # the English title is a translation (shown as one), not source text
    assert keys == ["id", "title", "title_en", "source", "language"], (
        f"{stem}: front matter keys {keys}"
    )
    # exactly one H1, first thing in the body, matching the title (up to enclosing quotes)
    non_empty = [line for line in body.split("\n") if line.strip()]
    h1 = [line for line in non_empty if line.startswith("# ")]
    assert len(h1) == 1 and non_empty[0] == h1[0], f"{stem}: one H1 at the top expected"
    assert h1[0][2:].strip().strip('"') == meta["title"].strip('"')
    # every footnote reference has a definition and vice versa
    markdown = normalise_markdown(body)
    assert markdown.footnote_refs == set(markdown.footnote_ids)
    assert len(markdown.footnote_ids) == len(set(markdown.footnote_ids))


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_every_source_sentence_is_in_the_markdown(stem: str, seeds: Path, repairs: dict) -> None:
    source = (seeds / EXPECTED[stem]).read_text(encoding="utf-8")
    meta, raw_front, body = split_front_matter(_read(stem))
    supplied = fold(meta["title"]) not in fold(source)
    if supplied:
        assert _title_supplied(raw_front), f"{stem}: title not in source and not marked supplied"
    result = compare(source, repairs[EXPECTED[stem]], body, drop_h1=supplied)
    assert result.missing == [], f"{stem}: source sentences missing from the Markdown"
    assert result.out_of_order == [], f"{stem}: source sentences out of order"


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_markdown_adds_no_text(stem: str, seeds: Path, repairs: dict) -> None:
    source = (seeds / EXPECTED[stem]).read_text(encoding="utf-8")
    meta, _raw_front, body = split_front_matter(_read(stem))
    supplied = fold(meta["title"]) not in fold(source)
    result = compare(source, repairs[EXPECTED[stem]], body, drop_h1=supplied)
    assert result.extra == [], f"{stem}: Markdown text that is not in the source"
    assert abs(result.word_ratio - 1) <= WORD_COUNT_TOLERANCE, (
        f"{stem}: {result.markdown_words} words in Markdown vs {result.source_words} in source"
    )


# ------------------------------------------------------------------ the check can fail

_TOY_SOURCE = (
    "Ein Titel\n\nErster Satz steht hier. Zweiter Satz folgt sofort.\n\n"
    "KopfAWertB\nZeileEinsInhalt eins.\n\nSeite 3\n"
)
_TOY_REPAIRS = {"removed": [{"text": "\nSeite 3\n"}]}
_TOY_MARKDOWN = (
    "# Ein Titel\n\nErster Satz steht hier.\nZweiter Satz folgt sofort.\n\n"
    "| KopfA | WertB |\n|---|---|\n| ZeileEins | Inhalt eins. |\n"
)


def test_comparison_accepts_a_faithful_toy_document() -> None:
    result = compare(_TOY_SOURCE, _TOY_REPAIRS, _TOY_MARKDOWN)
    assert (result.missing, result.out_of_order, result.extra) == ([], [], [])


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("Zweiter Satz", "Dritter Satz", "missing"),  # one word changed
        ("Erster Satz steht hier.\n", "", "missing"),  # sentence dropped
        ("Inhalt eins.", "Inhalt zwei.", "missing"),  # word changed in a table cell
        ("| ZeileEins | Inhalt eins. |\n", "", "missing"),  # table row dropped
        ("steht hier.", "steht hier. Erfunden.", "extra"),  # sentence invented
    ],
)
def test_comparison_detects_toy_damage(old: str, new: str, kind: str) -> None:
    result = compare(_TOY_SOURCE, _TOY_REPAIRS, _TOY_MARKDOWN.replace(old, new, 1))
    assert getattr(result, kind), f"{kind} damage not reported: {result}"


def test_comparison_detects_one_changed_word_in_a_real_document(seeds: Path, repairs: dict) -> None:
    stem = "whitepaper-it-im-mittelstand"
    source = (seeds / EXPECTED[stem]).read_text(encoding="utf-8")
    _, _, body = split_front_matter(_read(stem))
    sentence = "Die IT ist heute das Rückgrat nahezu jedes Unternehmens."
    assert body.count(sentence) == 1
    altered = body.replace(sentence, sentence.replace("Rückgrat", "Fundament"))
    result = compare(source, repairs[EXPECTED[stem]], altered)
    assert result.missing == [sentence]
    assert any("Fundament" in text for text in result.extra)
    # and the unaltered body passes
    assert compare(source, repairs[EXPECTED[stem]], body).missing == []
