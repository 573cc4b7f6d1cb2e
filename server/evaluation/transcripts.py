"""Transcripts a fresh grader can read, and the summary of their grades.

``advisor eval FILE --transcripts OUT.md`` writes what the visitor read (the question, the
whole answer, its sources) without the expected facts or outcomes, so the grader judges as a
visitor would; ``OUT.json`` beside it keeps the run's records. The grader writes a YAML file
of grades (``docs/grading-rubric.md`` says what good, partial and bad mean), and
``advisor grades GRADES.yaml --run OUT.json`` summarises them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.yamlfile import safe_load
from server.evaluation.run import CaseRecord
from server.evaluation.schema import EvalFileError

__all__ = ["Grade", "GradeFile", "load_grades", "summarise_grades", "write_transcripts"]

GradeValue = Literal["good", "partial", "bad"]


def _citation_lines(citations: list[dict[str, Any]]) -> list[str]:
    lines = []
    for c in citations:
        quote = " ".join(str(c.get("quote", "")).split())
        lines.append(f"> [{c.get('n')}] {c.get('title')} › {c.get('heading')}: „{quote}“")
    return lines


def _block(record: CaseRecord, heading: str) -> list[str]:
    lines = [heading, "", f"**Visitor:** {record.q}", "", "**Advisor:**", ""]
    lines += [f"    {line}" if line.strip() else "" for line in record.answer.splitlines()]
    if record.citations:
        lines += ["", "Sources:", *_citation_lines(record.citations)]
    if record.follow_up:
        # a clarification asks the visitor to pick one of these: the grader must see them
        lines += ["", "Suggested questions (buttons under the answer):"]
        lines += [f"- {question}" for question in record.follow_up]
    return [*lines, ""]


def write_transcripts(records: list[CaseRecord], path: Path, title: str) -> None:
    """``path`` (Markdown for the grader) and ``path.with_suffix('.json')`` (the records)."""
    lines = [
        f"# Transcripts: {title}",
        "",
        "Grade every block by its id (see docs/grading-rubric.md). Single questions each start"
        " a fresh conversation; conversation turns follow each other.",
        "",
    ]
    current: str | None = None
    for record in records:
        if record.conversation is None:
            lines += _block(record, f"## {record.id}")
            continue
        if record.conversation != current:
            current = record.conversation
            lines += [f"## Conversation {current}", ""]
        lines += _block(record, f"### {record.id}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    path.with_suffix(".json").write_text(
        json.dumps([r.to_json() for r in records], ensure_ascii=False, indent=1), encoding="utf-8"
    )


class Grade(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    grade: GradeValue
    why: str = ""


class GradeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grader: str = ""
    transcripts: str = ""
    grades: list[Grade] = Field(min_length=1)


def load_grades(path: Path) -> GradeFile:
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalFileError(f"grades file {path} not found") from None
    except yaml.YAMLError as exc:
        raise EvalFileError(f"{path} is not valid YAML: {exc}") from None
    try:
        return GradeFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise EvalFileError(f"{path}: {loc}: {first['msg']}") from None


def summarise_grades(
    grades: GradeFile, records: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Shares of good / partial / bad, overall and (with the run's records) per expected
    outcome and for single turns vs conversation turns; ids graded but not in the run, and
    ids of the run left ungraded, are listed."""

    def shares(values: list[str]) -> dict[str, Any]:
        counts = Counter(values)
        total = len(values)
        return {
            "graded": total,
            **{g: counts.get(g, 0) for g in ("good", "partial", "bad")},
            **{
                f"{g}_share": round(counts.get(g, 0) / total, 4) if total else None
                for g in ("good", "partial", "bad")
            },
        }

    by_id = {g.id: g.grade for g in grades.grades}
    summary: dict[str, Any] = {"all": shares(list(by_id.values()))}
    if records is not None:
        known = {r["id"]: r for r in records}
        summary["not_in_run"] = sorted(set(by_id) - set(known))
        summary["ungraded"] = sorted(set(known) - set(by_id))
        groups: dict[str, list[str]] = {}
        for ident, grade in by_id.items():
            record = known.get(ident)
            if record is None:
                continue
            groups.setdefault(f"expected {record['expected']}", []).append(grade)
            kind = "conversation turns" if record.get("conversation") else "single turns"
            groups.setdefault(kind, []).append(grade)
        summary["groups"] = {name: shares(values) for name, values in sorted(groups.items())}
    return summary
