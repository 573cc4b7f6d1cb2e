"""Guards against tuning to the test, and the knowledge base's coverage.

* Near-duplicates: no eval question may be (after normalising) a near copy of an example
  phrasing the advisor is built from (curated answers, router examples). Similarity is the
  cosine of the two messages' bags of stems, by the project's own lexical analysis
  (umlauts folded, Snowball German stems, hyphenated words split), so a copy with other
  inflections, case, punctuation or umlaut spelling counts as a copy. The report gives the
  distribution of each eval question's highest similarity, and every pair at or above the
  threshold.
* Coverage: every sentence of the five documents, with the curated answers that quote it,
  or "not answerable" and why (its role, or a note in the sentence table).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.clean import fold
from ingest.lexical import stem, words
from ingest.yamlfile import safe_load

__all__ = [
    "NEAR_DUPLICATE",
    "CoverageRow",
    "DuplicateReport",
    "coverage",
    "eval_questions",
    "near_duplicates",
    "stems",
]

NEAR_DUPLICATE = 0.85
_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 1.0)
# Roles whose sentences answer no question on their own, and why.
ROLE_REASONS = {
    "intro": "introduces a section, list or table; what it introduces is answered",
    "rhetorical": "a rhetorical question or a question to the reader",
    "example_setup": "the set-up of an example; its outcome is what answers a question",
    "footnote": "a source reference, no content",
}


def stems(text: str) -> list[str]:
    """The stems of every word of a message: what the near-duplicate check compares.

    Function words stay in: without them "Was bedeutet 'Einer ist keiner'?" and "Was bedeutet
    das?" would be the same message.
    """
    parts = [p for w in words(fold(text)) for p in w.split("-") if p]  # "IT-Ausfall" = "IT Ausfall"
    return [stem(p) for p in parts]


@dataclass
class DuplicateReport:
    threshold: float
    questions: int
    examples: int
    histogram: dict[str, int] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "questions": self.questions,
            "examples": self.examples,
            "max_similarity_histogram": self.histogram,
            "near_duplicates": self.pairs,
        }


def near_duplicates(
    questions: list[tuple[str, str]],
    examples: list[tuple[str, str]],
    threshold: float = NEAR_DUPLICATE,
) -> DuplicateReport:
    """Compare every eval question (id, text) with every example phrasing (source, text)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    report = DuplicateReport(threshold, len(questions), len(examples))
    if not questions or not examples:
        return report
    vectorizer = CountVectorizer(analyzer=stems)
    vectorizer.fit([t for _, t in questions] + [t for _, t in examples])
    q = normalize(vectorizer.transform([t for _, t in questions]))
    e = normalize(vectorizer.transform([t for _, t in examples]))
    sims = (q @ e.T).toarray()
    best = sims.max(axis=1)
    lower = 0.0
    for upper in _BUCKETS:
        label = f"[{lower:.2f}, {upper:.2f})" if upper < 1.0 else f"[{lower:.2f}, 1.00]"
        inside = (best >= lower) & ((best < upper) if upper < 1.0 else (best <= 1.0 + 1e-9))
        report.histogram[label] = int(inside.sum())
        lower = upper
    for i, j in zip(*np.nonzero(sims >= threshold), strict=True):
        report.pairs.append(
            {
                "question": questions[int(i)][0],
                "example_source": examples[int(j)][0],
                "example": examples[int(j)][1],
                "similarity": round(float(sims[i, j]), 3),
            }
        )
    return report


def eval_questions(files: Iterable[Path]) -> list[tuple[str, str]]:
    """(id, text) of every single-turn case and conversation turn in the eval files."""
    from server.evaluation.schema import load_eval_set

    out: list[tuple[str, str]] = []
    for path in files:
        eval_set = load_eval_set(path)
        out += [(f"{path}:{c.id}", c.q) for c in eval_set.all_cases()]
        for conv in eval_set.conversations:
            out += [(f"{path}:{conv.id}#{n}", t.user) for n, t in enumerate(conv.turns, 1)]
    return out


@dataclass
class CoverageRow:
    id: str
    doc_id: str
    role: str
    text: str
    quoted_by: list[str]
    reason: str | None  # why it is not answerable, when it is not quoted

    @property
    def covered(self) -> bool:
        return bool(self.quoted_by) or self.reason is not None


def _quotes(sentence: str, quote: str) -> bool:
    # A quote covers a sentence when it holds it whole, or is a clear part of it.
    s, q = fold(sentence).casefold(), fold(quote).casefold()
    return s in q or (len(q) >= 20 and q in s)


def coverage(sentences_dir: Path, quotes: list[tuple[str, str, str]]) -> list[CoverageRow]:
    """Every sentence of the sentence tables with the entries whose quotes cover it.

    ``quotes`` are (entry id, doc id, quote text) of the curated answers.
    """
    rows: list[CoverageRow] = []
    for path in sorted(sentences_dir.glob("*.yaml")):
        table = safe_load(path.read_text(encoding="utf-8"))
        doc_id = table["doc_id"]
        doc_quotes = [(entry, text) for entry, doc, text in quotes if doc == doc_id]
        for s in table["sentences"]:
            quoted_by = sorted({entry for entry, text in doc_quotes if _quotes(s["de"], text)})
            reason = s.get("not_answerable") or ROLE_REASONS.get(s["role"])
            rows.append(
                CoverageRow(
                    s["id"], doc_id, s["role"], s["de"], quoted_by, None if quoted_by else reason
                )
            )
    return rows


def example_phrasings(knowledge_dir: Path) -> list[tuple[str, str]]:
    """(source, text) of every phrasing the advisor is built from: the curated answers'
    example questions and the router's labelled examples."""
    out: list[tuple[str, str]] = []
    for path in sorted((knowledge_dir / "answers").glob("*.yaml")):
        data = safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in data.get("answers") or []:
            out += [(f"answer {entry.get('id')}", q) for q in entry.get("questions") or []]
    router = knowledge_dir / "router" / "examples.yaml"
    if router.is_file():
        data = safe_load(router.read_text(encoding="utf-8")) or {}
        out += [(f"router {e.get('label')}", e["text"]) for e in data.get("examples") or []]
    return out
