"""Curated answers: questions a visitor asks, each with a direct, cited lead, as data.

Entries live in ``knowledge/answers/*.yaml``. Each holds example phrasings (German formal and
casual, typos, English), a lead answer in German and English (the verdict, number or
definition first), at most two supporting sentences, the verbatim quotes they rest on, and
follow-up questions. A sentence cites its quotes with ``[1]``, ``[2]`` (the entry's quotes,
in order); the composer renumbers them into the answer's citations.

The loader refuses an entry (naming it) whose quote is not verbatim in its document, whose
sentences cite no quote or a quote it does not have, or whose lead states a number, amount
or percentage (digits or number words, German or English format) that its quotes do not
contain. At start-up a refused entry stops the server; on a live reload it is disabled and
reported while the others keep serving.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.clean import fold
from ingest.load import SourceDocument, load_folder
from ingest.sentences import split_text
from ingest.yamlfile import safe_load
from server.numbers import numbers_in

__all__ = [
    "AnswerSet",
    "Bilingual",
    "CuratedAnswer",
    "CuratedError",
    "Quote",
    "entry_problems",
    "load_answers",
    "parse_entries",
]

ANSWERS_DIR_NAME = "answers"
# "gap": a question visitors ask that the documents do not answer ("Welche Kündigungsfristen
# sind üblich?"). Its lead says so by name; what the documents say nearest is cited.
Kind = Literal["answer", "policy", "gap"]
_MARKER = re.compile(r"\[(\d+)\]")
_ID = r"^[a-z0-9][a-z0-9-]{2,63}$"


class CuratedError(Exception):
    """Curated answers that cannot be used; each problem names its file and entry."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quote(_Strict):
    doc: str = Field(min_length=1, description="Document id (file stem in knowledge/).")
    text: str = Field(min_length=10, description="Verbatim from the document.")


class Bilingual(_Strict):
    de: str = Field(min_length=1)
    en: str = Field(min_length=1)


class FollowUps(_Strict):
    de: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class CuratedAnswer(_Strict):
    id: str = Field(pattern=_ID)
    kind: Kind = "answer"
    topic: str = ""
    questions: list[str] = Field(min_length=3)
    lead: Bilingual
    more: list[Bilingual] = Field(default_factory=list, max_length=2)
    quotes: list[Quote] = Field(default_factory=list)
    follow_ups: FollowUps = Field(default_factory=FollowUps)
    # Policy answers end with the contact offer from the settings (ADVISOR_CONTACT_*).
    contact: bool = False
    disabled: bool = False

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        cleaned = [q.strip() for q in value]
        if any(not q for q in cleaned):
            raise ValueError("an example question is empty")
        if len({q.casefold() for q in cleaned}) != len(cleaned):
            raise ValueError("example questions repeat")
        return cleaned

    def sentences(self, language: str) -> list[str]:
        """Lead and supporting sentences in ``language``, with their [n] markers."""
        texts = [self.lead, *list(self.more)]
        return [getattr(t, language) for t in texts]

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class _AnswerFile(_Strict):
    answers: list[dict[str, Any]] = Field(default_factory=list)


def _without_markers(text: str) -> str:
    return _MARKER.sub("", text)


def entry_problems(entry: CuratedAnswer, documents: dict[str, str]) -> list[str]:
    """Everything wrong with one entry, given the folded text of each document by id."""
    problems: list[str] = []
    for n, quote in enumerate(entry.quotes, 1):
        if quote.doc not in documents:
            problems.append(f"quote [{n}]: unknown document {quote.doc!r}")
        elif fold(quote.text) not in documents[quote.doc]:
            problems.append(f"quote [{n}] is not verbatim in {quote.doc!r}: {quote.text!r}")
    if entry.kind == "answer" and not entry.quotes:
        problems.append("an answer needs at least one quote")
    if entry.kind == "gap" and not (entry.quotes and entry.more):
        problems.append("a gap needs what the documents say nearest: a sentence and its quote")
    used: set[int] = set()
    quoted_numbers = (
        set().union(*(numbers_in(q.text) for q in entry.quotes)) if entry.quotes else set()
    )
    for language in ("de", "en"):
        for i, text in enumerate(entry.sentences(language)):
            for sentence in split_text(text):
                markers = {int(m) for m in _MARKER.findall(sentence)}
                # a gap's lead says what the documents lack; all else rests on a quote
                if not markers and (entry.kind == "answer" or (entry.kind == "gap" and i > 0)):
                    problems.append(f"{language} sentence cites no quote: {sentence!r}")
                bad = sorted(m for m in markers if not 1 <= m <= len(entry.quotes))
                if bad:
                    problems.append(f"{language} sentence cites [{bad[0]}], which is no quote")
                used |= markers
            stated = numbers_in(_without_markers(text)) - quoted_numbers
            if stated:
                shown = ", ".join(f"{n:g}" for n in sorted(stated))
                problems.append(
                    f"{language} text states {shown}, which its quotes do not contain: {text!r}"
                )
    unused = [n for n in range(1, len(entry.quotes) + 1) if n not in used]
    if unused:
        problems.append(f"quote [{unused[0]}] is cited by no sentence")
    return problems


def parse_entries(data: Any, where: str) -> tuple[list[CuratedAnswer], list[str]]:
    """Entries of one file's parsed YAML; problems name the file and the entry."""
    if not isinstance(data, dict):
        return [], [f"{where}: the file must be a mapping with `answers:`"]
    try:
        raw = _AnswerFile.model_validate(data).answers
    except ValidationError as exc:
        return [], [f"{where}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}"]
    entries: list[CuratedAnswer] = []
    problems: list[str] = []
    for i, item in enumerate(raw):
        label = (
            f"{where}: entry {item.get('id')!r}"
            if isinstance(item, dict)
            else f"{where}: answers[{i}]"
        )
        try:
            entries.append(CuratedAnswer.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "entry"
                problems.append(f"{label}: {loc}: {err['msg']}")
    return entries, problems


@dataclass
class AnswerSet:
    """The loaded entries (enabled ones), the refused ones with their problems, and titles."""

    entries: list[CuratedAnswer] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # entry id -> file it came from

    def by_id(self, entry_id: str) -> CuratedAnswer | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for entry in sorted(self.entries, key=lambda e: e.id):
            digest.update(entry.content_hash.encode())
        return digest.hexdigest()


def _documents(knowledge_dir: Path) -> list[SourceDocument]:
    return load_folder(knowledge_dir).documents


def validate_entries(
    located: Iterable[tuple[str, CuratedAnswer]], documents: list[SourceDocument]
) -> Iterator[tuple[str, CuratedAnswer, list[str]]]:
    """Each entry with its problems (empty when it may serve); duplicate ids are problems."""
    folded = {doc.doc_id: fold(doc.text) for doc in documents}
    seen: dict[str, str] = {}
    for where, entry in located:
        problems = entry_problems(entry, folded)
        if entry.id in seen:
            problems.insert(0, f"duplicate id (also in {seen[entry.id]})")
        else:
            seen[entry.id] = where
        yield where, entry, problems


def load_answers(
    folder: Path,
    knowledge_dir: Path,
    *,
    strict: bool = True,
    overrides: Iterable[CuratedAnswer] = (),
) -> AnswerSet:
    """Read every ``*.yaml`` in ``folder`` (plus staff ``overrides``, which replace entries
    of the same id) and validate them against the documents in ``knowledge_dir``.

    ``strict`` (start-up): any problem raises :class:`CuratedError` listing all of them.
    Otherwise (live reload): bad entries are left out and listed in ``refused``.
    """
    problems: list[str] = []
    located: list[tuple[str, CuratedAnswer]] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            data = safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        entries, file_problems = parse_entries(data, str(path))
        problems += file_problems
        located += [(str(path), e) for e in entries]
    override_ids = {o.id for o in overrides}
    located = [(w, e) for w, e in located if e.id not in override_ids]
    located += [("staff edit", o) for o in overrides]
    documents = _documents(knowledge_dir)
    result = AnswerSet(titles={d.doc_id: d.title for d in documents})
    for where, entry, entry_problems_ in validate_entries(located, documents):
        if entry_problems_:
            result.refused[entry.id] = entry_problems_
            problems += [f"{where}: entry {entry.id!r}: {p}" for p in entry_problems_]
        elif not entry.disabled:
            result.entries.append(entry)
            result.sources[entry.id] = where
    if strict and problems:
        raise CuratedError(problems)
    return result
