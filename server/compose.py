"""Deterministic composer: answers built from templates, the scoring result and cited sentences.

Every sentence that states a fact carries the ``[n]`` of the passage it comes from; a citation
is only registered when the answer uses it, so markers and citations always match.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, model_validator

from ingest.clean import fold
from server.prompts import AnswerTemplates
from server.retrieval import Passage
from server.scoring import (
    CostComparison,
    CostFigure,
    Reason,
    Recommendation,
    TaskRecommendation,
    figure_range,
)

__all__ = [
    "AnswerCitation",
    "CitationRegistry",
    "compose_costs",
    "compose_recommendation",
    "find_span",
    "profile_summary",
    "split_sentences",
]

MAX_SENTENCE_CHARS = 400
# Context marker of a list label ("Vorteile:"): its heading counts as part of it.
LIST_LABEL = "\x00list:"

_ABBREVIATIONS = (
    "z.B.",
    "z. B.",
    "bzw.",
    "ggf.",
    "ca.",
    "u.a.",
    "etc.",
    "d.h.",
    "Nr.",
    "inkl.",
    "evtl.",
    "vgl.",
    "usw.",
    "e.g.",
    "i.e.",
    "Mio.",
    "Mrd.",
    "ff.",
    "S.",
)
_SPLIT_RE = re.compile(r"(?<=[.!?])(?:\*\*|__)?\s+(?=[\"„A-ZÄÖÜ0-9*(])")
_BULLET_RE = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|>\s*)+")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{2,}")


QUOTE_JOINER = " … "


class AnswerCitation(BaseModel):
    n: int
    doc_id: str
    passage_id: str = Field("", description="The cited passage (chunk) id, for its source page.")
    title: str
    heading: str
    quote: str = Field(description="The parts of the passage the answer uses, joined by ' … '.")
    quotes: list[str] = Field(
        default_factory=list,
        description="Those parts one by one, each verbatim in `text`, in reading order.",
    )
    text: str = Field(description="The whole cited passage.")

    @model_validator(mode="after")
    def _quotes_default(self) -> AnswerCitation:
        if not self.quotes and self.quote:
            self.quotes = [self.quote]
        return self


def _merge_spans(text: str, spans: list[str]) -> list[str]:
    """Verbatim spans of ``text`` in reading order; overlapping or adjacent ones merged."""
    located: list[tuple[int, int]] = []
    for span in spans:
        start = text.find(span)
        if start >= 0:
            located.append((start, start + len(span)))
    located.sort()
    merged: list[tuple[int, int]] = []
    for start, end in located:
        # Overlapping, or only white space between two sentences: they read as one quote.
        if merged and not text[merged[-1][1] : start].strip():
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [text[start:end] for start, end in merged]


@dataclass
class CitationRegistry:
    """Numbers passages in order of first use; the same passage keeps its number, and its
    citation collects every span the answer takes from it."""

    citations: list[AnswerCitation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    _by_passage: dict[str, int] = field(default_factory=dict)
    _spans: dict[int, list[str]] = field(default_factory=dict)

    def cite(self, passage: Passage, quote: str) -> int:
        """The number of ``passage``; ``quote`` must be a verbatim span of its text.

        The citation shows the passage and its quoted spans without Markdown emphasis (the
        visitor reads text, not ``**``); the spans stay verbatim parts of that text."""
        n = self._by_passage.get(passage.id)
        if n is None:
            n = len(self.citations) + 1
            self.citations.append(
                AnswerCitation(
                    n=n,
                    doc_id=passage.doc_id,
                    passage_id=passage.id,
                    title=passage.title,
                    heading=passage.heading,
                    quote=_plain(quote),
                    quotes=[_plain(quote)],
                    text=_plain(passage.text),
                )
            )
            self._by_passage[passage.id] = n
            self._spans[n] = [quote]
            self.passages.append(passage)
            return n
        if quote not in self._spans[n]:
            self._spans[n] = _merge_spans(passage.text, [*self._spans[n], quote])
            citation = self.citations[n - 1]
            citation.quotes = [_plain(q) for q in self._spans[n]]
            citation.quote = QUOTE_JOINER.join(citation.quotes)
        return n


def _plain(text: str) -> str:
    return _EMPHASIS_MARKS.sub("", text)


_EMPHASIS_MARKS = re.compile(r"\*\*|__")


# --------------------------------------------------------------------------------------
# Words and sentences
# --------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """Verbatim sentences of a Markdown passage (bullets, table cells and headings unwrapped)."""
    return [s for s, context in sentences_with_context(text) if not context.startswith(LIST_LABEL)]


def sentences_with_context(text: str, heading: str = "") -> list[tuple[str, str]]:
    """Each sentence with the heading and label line ("Vorteile:") it stands under.

    A table row is one unit ("Flatrate | Fester Monatsbetrag …", verbatim from the passage)
    with the table's header row as context; the header row itself is no answer.
    """
    out: list[tuple[str, str]] = []
    heading = heading.split(">")[-1].strip()
    label = ""
    columns = ""
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if not line or _TABLE_SEP_RE.match(line):
            continue
        if line.startswith("#"):
            heading, label = line.lstrip("#").strip(), ""
            continue
        if line.endswith(":") and len(line) <= 60:
            label = _BULLET_RE.sub("", line)
            # "Vorteile:" under "Interne IT-Services" answers "Welche Vorteile hat interne IT?"
            # together with its list (compose adds the items)
            out.append((line, LIST_LABEL + heading))
            continue
        if not line.startswith(("-", "*", "+", "|")) and not re.match(r"\d+[.)]\s", line):
            label = ""  # a paragraph ends the list a label introduced
        context = f"{heading} {label}".strip()
        if line.startswith("|"):
            row = line.strip("|").strip()
            if i + 1 < len(lines) and _TABLE_SEP_RE.match(lines[i + 1]):
                columns = " ".join(c.strip() for c in row.split("|"))
                # the header row stands for the whole table ("Phase | Ziel | Aufgaben" answers
                # "Welche Phasen gibt es?"); compose adds the rows
                out.append((row, LIST_LABEL + context))
                continue
            if len(row) <= MAX_SENTENCE_CHARS:
                out.append((row, f"{context} {columns}".strip()))
                continue
            cells = [c.strip() for c in row.split("|")]
        else:
            columns = ""
            cells = [line]
        for cell in cells:
            cell = _BULLET_RE.sub("", cell).strip()
            if cell:
                out.extend((sentence, context) for sentence in _split_cell(cell))
    return [
        (s, c)
        for s, c in out
        if (len(s) >= 12 or c.startswith(LIST_LABEL)) and len(s) <= MAX_SENTENCE_CHARS
    ]


def _split_cell(cell: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SPLIT_RE.finditer(cell):
        before = cell[start : match.start()]
        if any(before.endswith(a) for a in _ABBREVIATIONS) or re.search(
            r"(?:\b\d{1,2}|(?<![\w.])[A-Za-z])\.$", before
        ):
            continue
        pieces.append(before.strip())
        start = match.end()
    pieces.append(cell[start:].strip())
    return [p for p in pieces if p]


def find_span(text: str, quote: str) -> str | None:
    """The verbatim part of ``text`` that equals ``quote`` up to white space and emphasis."""
    for inside_words in (False, True):
        pattern = _span_pattern(quote, inside_words)
        if pattern is None:
            return None
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


@functools.lru_cache(maxsize=8192)
def _span_pattern(quote: str, inside_words: bool) -> re.Pattern[str] | None:
    """The quote's words with white space or emphasis between them; ``inside_words`` also
    lets emphasis sit inside a word ("nötig**," for "nötig,"). That pattern, an optional
    group between every two letters, takes milliseconds to compile, so it is only the
    fallback, and both are cached here rather than in ``re``'s cache of 512, which an
    answer's dozen quotes turned over (a fifth of a chat's time went to compiling)."""
    tokens = fold(quote).split(" ")
    if not tokens or not tokens[0]:
        return None
    emphasis = r"(?:\*\*|__)?" if inside_words else ""
    pattern = r"(?:\s|\*\*|__)*".join(emphasis.join(re.escape(c) for c in t) for t in tokens)
    return re.compile(pattern, flags=re.IGNORECASE)


# --------------------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------------------


def _number(value: float, language: str) -> str:
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:g}"
    return text.replace(".", ",") if language == "de" else text


def profile_summary(profile: dict[str, Any], templates: AnswerTemplates) -> str:
    """ "45 PCs, 1 IT-Mitarbeiter, ein Key-User" in the order of the template file."""
    parts: list[str] = []
    keys = list(templates.profile_number) + [
        k
        for k in list(templates.profile_yes) + list(templates.profile_no)
        if k not in templates.profile_number
    ]
    seen: set[str] = set()
    for key in keys:
        if key in seen or profile.get(key) is None:
            continue
        seen.add(key)
        value = profile[key]
        if isinstance(value, bool):
            text = (templates.profile_yes if value else templates.profile_no).get(key)
        elif key == "it_staff" and value == 0 and "it_staff" in templates.profile_no:
            text = templates.profile_no["it_staff"]
        elif key in templates.profile_number:
            text = templates.profile_number[key].format(value=_number(value, templates.language))
        else:
            text = None
        if text:
            parts.append(text)
    return ", ".join(parts)


def _after_label(text: str) -> str:
    _, sep, rest = text.partition(": ")
    if not sep or not rest:
        return text
    return rest[:1].upper() + rest[1:]


PassageFinder = Callable[[str], tuple[Passage, str] | None]


def _reasons_for_label(task: TaskRecommendation) -> list[Reason]:
    """The task's reasons, those that argue for its label first.

    The heaviest reason may push the other way ("über 10 Mitarbeiter" pushes the helpdesk
    outwards although it stays hybrid); the one line shown must explain the label it stands
    next to: extern by an outward reason, intern by an inward one, hybrid by what moved the
    score from the task matrix towards the middle (or by the matrix itself).
    """
    reasons = list(task.reasons)
    if task.label == "extern":
        direction = 1.0
    elif task.label == "intern":
        direction = -1.0
    else:
        base = next((r.contribution for r in reasons if r.rule.startswith("task:")), task.score)
        if abs(base) <= abs(task.score):
            # the matrix itself is (at least as) balanced: its reason explains "hybrid"
            return sorted(reasons, key=lambda r: not r.rule.startswith("task:"))
        direction = -base  # what pulled an extern or intern matrix entry towards the middle
    agreeing = [r for r in reasons if r.contribution * direction > 0]
    agreeing.sort(key=lambda r: -abs(r.contribution))  # stable: ties keep the rule order
    return agreeing + [r for r in reasons if r not in agreeing]


def compose_recommendation(
    recommendation: Recommendation,
    profile: dict[str, Any],
    tasks: list[str],
    question: str | None,
    templates: AnswerTemplates,
    registry: CitationRegistry,
    find_passage: PassageFinder,
) -> Iterator[str]:
    """Yield the intro, one line per task (with the cited top reason) and the open question.

    ``find_passage(quote)`` returns the passage holding a reason's quote and the verbatim span;
    it is called lazily, line by line, so the first line streams before the last is built.
    """
    english = templates.language == "en"
    summary = profile_summary(profile, templates)
    intro = (
        templates.recommend_intro.format(profile=summary)
        if summary
        else templates.recommend_intro_empty
    )
    # a compact table: the widget shows it as one, Teams as a list (server/channels/teams.py)
    yield intro + "\n\n" + templates.recommend_table_head
    shown = [t for t in recommendation.tasks if not tasks or t.task in tasks]
    if not shown:
        shown = recommendation.tasks
    for task in shown:
        line = ""
        for reason in _reasons_for_label(task):
            found = find_passage(reason.citation.quote)
            if found is None:
                continue
            passage, span = found
            n = registry.cite(passage, span)
            text = (reason.text_en if english else reason.text).strip().rstrip(".")
            if reason.rule.startswith("task:"):
                # "The task matrix recommends "X" for Y: why" – the label is already shown.
                text = _after_label(text)
            line = templates.recommend_line.format(
                title=task.title_en if english else task.title,
                display=task.display_en if english else task.display,
                reason=f"{text}. [{n}]",
            )
            break
        if not line:
            # No passage found for any reason: state the label only, with no factual claim.
            line = templates.recommend_line.format(
                title=task.title_en if english else task.title,
                display=task.display_en if english else task.display,
                reason="",
            )
        yield "\n" + line
    if question:
        yield "\n\n" + templates.recommend_question.format(question=question)


# --------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------


def _figure_value(figure: CostFigure, templates: AnswerTemplates) -> str:
    english = templates.language == "en"
    unit = figure.unit_en if english else figure.unit
    if figure.low is None and figure.high is None and figure.wording is not None:
        return templates.cost_wording.format(wording=figure.wording)
    return f"{figure_range(figure, templates.language)} {unit}"


def _cost_comparison(costs: CostComparison, templates: AnswerTemplates) -> str | None:
    """One sentence comparing the totals computed from the user's own figures, if both exist.

    Today's internal cost is the fair comparison when the company has IT staff; otherwise the
    gap-free cover the whitepaper names (its lower end, the cheapest internal option).
    """
    external = next((f for f in costs.external if f.id == "external_offer_cost"), None)
    internal = {f.id: f for f in costs.internal if f.source == "user"}
    own = internal.get("internal_current_cost") or internal.get("internal_team_cost")
    if external is None or external.low is None or own is None or own.low is None:
        return None
    english = templates.language == "en"
    template = (
        templates.cost_compare_lower if external.low < own.low else templates.cost_compare_higher
    )
    label = own.label_en if english else own.label
    return fold(
        template.format(
            external=figure_range(external, templates.language),
            internal=figure_range(own, templates.language),
            internal_label=label[:1].lower() + label[1:],
        )
    )


def compose_costs(
    recommendation: Recommendation,
    profile: dict[str, Any],
    templates: AnswerTemplates,
    registry: CitationRegistry,
    find_passage: PassageFinder,
) -> Iterator[str]:
    """Yield the cost comparison: every document figure with its citation, totals computed
    from the user's own prices, and what is still missing for a total.

    Only figures of the scoring module appear, and each document figure is cited; a figure
    whose quote cannot be found in the index is left out rather than stated without source.
    """
    english = templates.language == "en"
    summary = profile_summary(profile, templates)
    costs = recommendation.costs
    # What the visitor asked for comes first: the totals from their own figures and their
    # comparison; then the documents' figures for orientation.
    own: list[str] = []
    comparison = _cost_comparison(costs, templates)
    if comparison:
        own.append(comparison)
    for figure in costs.internal + costs.external + costs.context:
        if figure.source == "user":
            label = figure.label_en if english else figure.label
            basis = (figure.basis_en if english else figure.basis) or ""
            value = _figure_value(figure, templates)
            line = templates.cost_user_line.format(label=label, value=value, basis=basis)
            if figure.citation is not None:  # e.g. the whitepaper's head count in the basis
                found = find_passage(figure.citation.quote)
                if found is None:
                    continue
                line = f"{line} [{registry.cite(*found)}]"
            own.append(line)
    if own:
        yield "\n".join(own) + "\n\n"
    yield (templates.cost_intro.format(profile=summary) if summary else templates.cost_intro_empty)
    sections = (
        (templates.cost_internal, costs.internal),
        (templates.cost_external, costs.external),
        (templates.cost_context, costs.context),
    )
    for heading, figures in sections:
        lines: list[str] = []
        for figure in figures:
            if figure.source == "user":
                continue  # shown above
            label = figure.label_en if english else figure.label
            value = _figure_value(figure, templates)
            line = templates.cost_line.format(label=label, value=value)
            if figure.applies is False:
                line = f"{line} {templates.cost_not_applicable}"
            elif figure.id == "internal_staff_for_cover" and profile.get("it_staff") is not None:
                staff = profile_summary({"it_staff": profile["it_staff"]}, templates)
                line = f"{line} {templates.cost_current_staff.format(staff=staff)}"
            if figure.citation is not None:
                found = find_passage(figure.citation.quote)
                if found is None:
                    continue  # never state a document figure without its source
                passage, span = found
                line = f"{line} [{registry.cite(passage, span)}]"
            lines.append(line)
        if lines:
            yield "\n\n" + heading + "\n" + "\n".join(lines)
    asks = []
    if profile.get("internal_cost_per_it_staff_eur") is None:
        asks.append(templates.cost_ask_salary)
    if profile.get("external_price_per_user_month_eur") is None:
        asks.append(templates.cost_ask_price)
    if asks:
        yield "\n\n" + " ".join(fold(a) for a in asks)
