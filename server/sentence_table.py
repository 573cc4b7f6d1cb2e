"""The sentence table: every sentence of the documents with its role and English rendering.

``knowledge/sentences/<doc_id>.yaml`` holds, per document and in reading order, each sentence
as :mod:`ingest.sentences` segments it (``de``, verbatim), its ``role`` and an English
rendering (``en``, a translation, shown as such). Passage answers pick their lead from it:
only roles that state something may lead, and an English question gets ``en`` while the
German sentence stays the citation. The loader refuses a table that does not match the
documents sentence for sentence, or whose English states other numbers than the German.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.load import load_folder
from ingest.sentences import document_sentences
from ingest.yamlfile import safe_load
from server.numbers import numbers_in

__all__ = ["ANSWERING_ROLES", "Role", "Sentence", "SentenceTable", "SentenceTableError"]

Role = Literal[
    "claim",
    "figure",
    "definition",
    "list_item",
    "intro",
    "rhetorical",
    "example_setup",
    "example_outcome",
    "footnote",
]
# Roles whose sentences can answer a question on their own.
ANSWERING_ROLES: frozenset[str] = frozenset(
    {"claim", "figure", "definition", "list_item", "example_outcome"}
)
SENTENCES_DIR_NAME = "sentences"


class SentenceTableError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=3)
    de: str = Field(min_length=1)
    role: Role
    en: str = Field(min_length=1)
    not_answerable: str | None = None


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_id: str
    sentences: list[_Row]


@dataclass(frozen=True)
class Sentence:
    id: str
    doc_id: str
    position: int
    de: str
    en: str
    role: Role
    kind: str  # paragraph | bullet | table_row | label | footnote (from the segmentation)
    heading: str

    @property
    def answers(self) -> bool:
        return self.role in ANSWERING_ROLES


@dataclass
class SentenceTable:
    sentences: list[Sentence]

    def by_doc(self, doc_id: str) -> list[Sentence]:
        return [s for s in self.sentences if s.doc_id == doc_id]

    @classmethod
    def load(cls, knowledge_dir: Path) -> SentenceTable:
        """Read and check the tables against the documents; SentenceTableError if they differ."""
        folder = knowledge_dir / SENTENCES_DIR_NAME
        problems: list[str] = []
        out: list[Sentence] = []
        for document in load_folder(knowledge_dir).documents:
            path = folder / f"{document.doc_id}.yaml"
            try:
                table = _Table.model_validate(safe_load(path.read_text(encoding="utf-8")))
            except (OSError, yaml.YAMLError, ValidationError) as exc:
                problems.append(f"{path}: {exc}")
                continue
            segmented = document_sentences(document)
            if [s.de for s in table.sentences] != [s.text for s in segmented]:
                problems.append(
                    f"{path}: the sentences differ from the document {document.doc_id!r}; "
                    "regenerate the table's `de` column from ingest/sentences.py"
                )
                continue
            for position, (row, seg) in enumerate(zip(table.sentences, segmented, strict=True)):
                if row.id != seg.id:
                    problems.append(f"{path}: {row.id}: expected id {seg.id}")
                if numbers_in(row.de) != numbers_in(row.en):
                    problems.append(f"{path}: {row.id}: the English states other numbers")
                out.append(
                    Sentence(
                        row.id,
                        document.doc_id,
                        position,
                        row.de,
                        row.en,
                        row.role,
                        seg.kind,
                        seg.heading,
                    )
                )
        if problems:
            raise SentenceTableError(problems)
        return cls(out)
