"""What the staff playground does: ask with the whole trace, compare settings, keep feedback,
run eval sets against their last run, edit curated answers live, review conversations."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ingest.clean import fold
from ingest.load import load_folder
from ingest.yamlfile import safe_load
from server.answers import curated as curated_answers
from server.chat import Chatbot, answer
from server.curated import CuratedAnswer, entry_problems
from server.profile import Profile
from server.scoring import recommend
from server.sessions import SessionStore

__all__ = [
    "EVAL_ROOT",
    "EntryInvalid",
    "ask",
    "edited_entries",
    "eval_sets",
    "export_answers",
    "feedback_csv",
    "list_answers",
    "promote",
    "run_eval",
    "save_entry",
]

EVAL_ROOT = Path(__file__).resolve().parents[1] / "tests" / "eval"


class EntryInvalid(ValueError):
    """A curated entry staff sent that cannot serve; ``errors`` locate each problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))


def ask(bot: Chatbot, message: str, session_id: str | None, curated: bool) -> dict[str, Any]:
    """The answer as the widget shows it, and everything behind it."""
    variant = bot if curated == bot.curated_enabled else replace(bot, curated_enabled=curated)
    response = answer(variant, message, session_id, trace=True)
    trace = dict(response.trace or {})
    cited = {c.passage_id for c in response.citations}
    trace["passages"] = [
        {
            "id": p.id,
            "doc_id": p.doc_id,
            "heading": p.heading,
            "dense": p.scores.dense,
            "lexical": p.scores.lexical,
            "fused": p.scores.fused,
            "cited": p.id in cited,
        }
        for p in bot.retriever.retrieve(message, 5)
    ]
    trace["candidates"] = [
        m.to_json() for m in bot.curated.match(message, None, k=3, kinds=curated_answers.SERVED)
    ]
    if response.recommendation is None:
        # the breakdown of what the profile understood so far gives, even for a fact answer
        profile = Profile.model_validate(response.profile)
        trace["scoring"] = recommend(profile, bot.rules).model_dump()
    return {"response": response.model_dump(), "trace": trace}


# --- curated answers ------------------------------------------------------------------------


def edited_entries(sessions: SessionStore) -> tuple[str, list[CuratedAnswer]]:
    """The staff overrides for :class:`server.curated_match.CuratedStore` (version, entries)."""
    version, rows = sessions.curated_edits()
    entries: list[CuratedAnswer] = []
    for _, data, _, _ in rows:
        try:
            entries.append(CuratedAnswer.model_validate(json.loads(data)))
        except (ValidationError, json.JSONDecodeError):
            continue  # stored rows were validated on save; a schema change skips, not breaks
    return str(version), entries


def list_answers(bot: Chatbot) -> dict[str, Any]:
    _, rows = bot.sessions.curated_edits()
    edits = {entry_id: (author, created) for entry_id, _, author, created in rows}
    served = {e.id for e in bot.curated.entries}
    out = []
    for entry in _all_entries(bot):
        author, created = edits.get(entry.id, (None, None))
        out.append(
            {
                **entry.model_dump(),
                "source": "staff" if entry.id in edits else "file",
                "edited_by": author,
                "edited_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
                if created
                else None,
                "serving": entry.id in served,
            }
        )
    return {"answers": out, "refused": bot.curated.refused}


def _all_entries(bot: Chatbot) -> list[CuratedAnswer]:
    """Every entry, disabled ones included: the files, with the staff edits on top."""
    from server.curated import parse_entries

    by_id: dict[str, CuratedAnswer] = {}
    for path in sorted(bot.curated.folder.glob("*.yaml")):
        entries, _ = parse_entries(safe_load(path.read_text(encoding="utf-8")), str(path))
        by_id.update({e.id: e for e in entries})
    _, edits = edited_entries(bot.sessions)
    by_id.update({e.id: e for e in edits})
    return sorted(by_id.values(), key=lambda e: e.id)


def _problem_location(problem: str) -> list[Any]:
    """Where in the form a loader problem belongs."""
    if problem.startswith("quote ["):
        n = int(problem[len("quote [") : problem.index("]")])
        return ["quotes", n - 1, "text"]
    for language in ("de", "en"):
        if problem.startswith(f"{language} "):
            return ["lead", language]
    if "quote" in problem:
        return ["quotes"]
    return ["entry"]


def save_entry(bot: Chatbot, entry_id: str, data: Any, author: str) -> CuratedAnswer:
    """Validate a staff edit like a shipped entry, store it, and serve it at once."""
    if not isinstance(data, dict):
        raise EntryInvalid([{"loc": ["entry"], "msg": "the entry must be an object"}])
    data = {**data, "id": entry_id}
    try:
        entry = CuratedAnswer.model_validate(data)
    except ValidationError as exc:
        raise EntryInvalid(
            [{"loc": list(e["loc"]), "msg": str(e["msg"])} for e in exc.errors()]
        ) from None
    documents = {d.doc_id: fold(d.text) for d in load_folder(bot.settings.knowledge_dir).documents}
    problems = entry_problems(entry, documents)
    if problems:
        raise EntryInvalid([{"loc": _problem_location(p), "msg": p} for p in problems])
    bot.sessions.add_curated_edit(entry.id, entry.model_dump_json(), author)
    bot.curated.refresh(force=True)
    return entry


def export_answers(bot: Chatbot) -> str:
    """Every entry, files and staff edits merged, in the format of ``knowledge/answers``."""
    entries = [
        e.model_dump(exclude_defaults=True) | {"id": e.id, "questions": e.questions}
        for e in _all_entries(bot)
    ]
    header = "# Curated answers exported from the staff playground (files + staff edits).\n"
    return header + yaml.safe_dump(
        {"answers": entries}, allow_unicode=True, sort_keys=False, width=100
    )


# --- feedback, evals, conversations ----------------------------------------------------------


def feedback_csv(sessions: SessionStore) -> str:
    buffer = io.StringIO()
    columns = [
        "id",
        "created",
        "author",
        "rating",
        "reason",
        "message",
        "answer",
        "module",
        "session_id",
    ]
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in sessions.feedback():
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["created"]))
        writer.writerow({**row, "created": created})
    return buffer.getvalue()


def eval_sets() -> dict[str, Path]:
    """The eval sets staff may run: every set but the sealed batches (run once, by hand)."""
    files = sorted(p for p in EVAL_ROOT.rglob("*.yaml") if "sealed" not in p.parts)
    files = [p for p in files if p.name != "sealed.yaml"]
    return {str(p.relative_to(EVAL_ROOT)).removesuffix(".yaml"): p for p in files}


def run_eval(bot: Chatbot, name: str, history: Path) -> dict[str, Any]:
    """Retrieval and answer metrics of one set, beside its previous run (kept in ``history``)."""
    from server.evaluation import evaluate_chat, evaluate_retrieval, load_eval_set

    path = eval_sets()[name]
    eval_set = load_eval_set(path)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="advisor-staff-eval-") as tmp:
        sessions = SessionStore(Path(tmp) / "s.sqlite3")
        try:
            isolated = replace(bot, sessions=sessions)  # eval turns are not conversations
            chat = evaluate_chat(
                eval_set, lambda m, s: answer(isolated, m, s, trace=True)
            ).metrics()
        finally:
            sessions.close()
    result: dict[str, Any] = {
        "name": name,
        "retrieval": evaluate_retrieval(eval_set, bot.retriever).metrics(),
        "chat": {"single_turn": chat["single_turn"], "conversations": chat.get("conversations")},
        "seconds": round(time.perf_counter() - started, 1),
    }
    runs = json.loads(history.read_text(encoding="utf-8")) if history.is_file() else {}
    result["previous"] = runs.get(name)
    runs[name] = {k: v for k, v in result.items() if k != "previous"}
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text(json.dumps(runs, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def promote(bot: Chatbot, kind: str, message: str, entry_id: str | None, author: str) -> str:
    """A visitor's question into the eval inbox (labelled later by staff) or, as an example
    phrasing, into a curated entry (a staff edit, live at once)."""
    if kind == "eval":
        inbox = bot.settings.data_dir / "staff-eval-inbox.yaml"
        data = safe_load(inbox.read_text(encoding="utf-8")) if inbox.is_file() else None
        items = list((data or {}).get("questions") or [])
        items.append({"q": message, "promoted_by": author, "promoted_at": time.time()})
        inbox.parent.mkdir(parents=True, exist_ok=True)
        inbox.write_text(
            yaml.safe_dump({"questions": items}, allow_unicode=True, sort_keys=False), "utf-8"
        )
        return f"in the eval inbox ({inbox.name}, {len(items)} questions to label)"
    entry = next((e for e in _all_entries(bot) if e.id == entry_id), None)
    if entry is None:
        raise KeyError(f"unknown curated answer {entry_id!r}")
    if message in entry.questions:
        return f"already an example question of {entry.id}"
    save_entry(
        bot, entry.id, {**entry.model_dump(), "questions": [*entry.questions, message]}, author
    )
    return f"added to the example questions of {entry.id}"
