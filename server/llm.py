"""Optional LLM answers through a LangChain chat model, checked before they reach a visitor.

The model gets the numbered passages and the scoring result and must cite by ``[n]``. Its
output is refused (and the deterministic answer used) on unknown markers, no citation at all,
a figure that is neither in the passages nor in the question, a leaked prompt line, an error or
a blown time budget.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from dataclasses import dataclass

from server.compose import AnswerCitation, split_sentences
from server.prompts import AnswerTemplates
from server.retrieval import Passage
from server.settings import Settings

__all__ = ["LlmAnswer", "generate", "validate"]

log = logging.getLogger(__name__)
_MARKER_RE = re.compile(r"\[(\d+)\]")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm")


@dataclass
class LlmAnswer:
    answer: str
    citations: list[AnswerCitation]


def _numbers(text: str) -> set[str]:
    """Figures in a canonical form: "70.000" and "70000" meet, "2,5" and "2.5" meet."""
    out: set[str] = set()
    for raw in _NUMBER_RE.findall(text):
        out.add(raw.replace(".", "").replace(",", ""))
        out.add(raw.replace(",", "."))
    return out


def validate(
    text: str, passages: list[Passage], allowed_text: str, templates: AnswerTemplates
) -> str | None:
    """Why ``text`` must not be shown, or None when it passes."""
    if not text.strip():
        return "empty"
    markers = [int(m) for m in _MARKER_RE.findall(text)]
    if not markers:
        return "no citation"
    if any(not 1 <= m <= len(passages) for m in markers):
        return "unknown citation marker"
    known = _numbers(" ".join(p.text for p in passages) + " " + allowed_text)
    for raw in _NUMBER_RE.findall(_MARKER_RE.sub(" ", text)):
        if not _numbers(raw) & known:
            return "figure not in the passages"
    lowered = text.casefold()
    if any(line.casefold() in lowered for line in templates.system_lines()):
        return "prompt leak"
    return None


def _quote_for(passage: Passage, answer: str, n: int) -> str:
    """The passage sentence that shares most words with the answer sentences citing [n]."""
    cited = " ".join(s for s in re.split(r"(?<=[.!?])\s+|\n", answer) if f"[{n}]" in s)
    cited_words = {w for w in re.findall(r"\w{4,}", cited.casefold())}
    best, best_score = "", -1
    for sentence in split_sentences(passage.text):
        score = len(cited_words & set(re.findall(r"\w{4,}", sentence.casefold())))
        if score > best_score:
            best, best_score = sentence, score
    return best or passage.text[:200]


def _renumber(text: str, passages: list[Passage]) -> LlmAnswer:
    """Number the cited passages in order of first use; drop the ones the answer ignores."""
    order: dict[int, int] = {}
    for m in _MARKER_RE.findall(text):
        order.setdefault(int(m), len(order) + 1)
    new_text = _MARKER_RE.sub(lambda m: f"[{order[int(m.group(1))]}]", text)
    citations = []
    for old, new in order.items():
        passage = passages[old - 1]
        citations.append(
            AnswerCitation(
                n=new,
                doc_id=passage.doc_id,
                title=passage.title,
                heading=passage.heading,
                quote=_quote_for(passage, new_text, new),
                text=passage.text,
            )
        )
    return LlmAnswer(new_text, citations)


def _call(settings: Settings, system: str, user: str) -> str:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    model = ChatOpenAI(
        base_url=settings.llm_base_url,
        api_key=key,
        model=settings.llm_model,
        timeout=settings.llm_timeout,
        max_retries=0,
        temperature=0,
    )
    reply = model.invoke([SystemMessage(content=system), HumanMessage(content=user)])
    return reply.content if isinstance(reply.content, str) else str(reply.content)


def generate(
    settings: Settings,
    templates: AnswerTemplates,
    question: str,
    passages: list[Passage],
    recommendation: str,
) -> LlmAnswer | None:
    """The model's checked answer, or None (fall back to the deterministic one)."""
    if not settings.llm_base_url or not passages:
        return None
    numbered = "\n\n".join(
        f"[{i}] {p.title} › {p.heading}\n{p.text}" for i, p in enumerate(passages, 1)
    )
    user = templates.llm_user.format(
        question=question, passages=numbered, recommendation=recommendation or "-"
    )
    future = _executor.submit(_call, settings, templates.llm_system, user)
    try:
        text = future.result(timeout=settings.llm_timeout + 0.5)
    except concurrent.futures.TimeoutError:
        log.warning("LLM answer exceeded the time budget; using the deterministic answer")
        return None
    except Exception as exc:  # any failure of the endpoint means: deterministic answer
        log.warning("LLM call failed (%s); using the deterministic answer", type(exc).__name__)
        return None
    problem = validate(text, passages, question + " " + recommendation, templates)
    if problem is not None:
        log.info("LLM answer refused: %s", problem)
        return None
    return _renumber(text.strip(), passages)
