"""Document figures a visitor's own number scales, as data (``knowledge/rates.yaml``).

A rate is one figure of one quoted sentence ("über 80.000 Euro pro Vorfall", "mindestens 50 %
ihrer Arbeitszeit") with the word a visitor's number counts ("3 Ausfälle", "40 Stunden") and
what the message must be about. :meth:`Rates.scaled` finds the rates a message asks to scale
and computes the result; ``server.answers.computed`` shows it with its working.

The loader refuses (naming the rate) a quote that is not verbatim in its document, a figure
the quote does not state, a product without its unit or ``per``, a share without the counted
amount's unit, and a pattern that does not compile.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ingest.clean import fold
from ingest.load import SourceDocument
from ingest.yamlfile import safe_load
from server.numbers import numbers_in, numbers_to_digits
from server.scoring import format_number

__all__ = ["Rate", "Rates", "RatesError", "Scaled", "load_rates"]


class RatesError(Exception):
    """``knowledge/rates.yaml`` cannot be used; each problem names its rate."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Words(_Strict):
    de: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Rate(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")
    entry: str = Field(min_length=1, description="Curated answer whose lead follows.")
    doc: str = Field(min_length=1)
    quote: str = Field(min_length=10)
    kind: Literal["product", "share", "ratio"]
    low: float = Field(gt=0)
    high: float | None = Field(default=None, gt=0)
    bound: Literal["over", "at_least"] | None = None
    unit: Words | None = None
    per: Words | None = None
    after: Words | None = None
    counted: str = Field(min_length=1)
    counted_unit: Words | None = None
    result_unit: Words | None = None
    about: str = Field(min_length=1)
    # the visitor stating their own value of the figure ("3 Stunden pro Woche", "ein Ausfall
    # kostet uns 20.000 €"): then the document's figure is not theirs to scale
    own: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Rate:
        if self.high is not None and self.high <= self.low:
            raise ValueError("high must be above low")
        if self.kind == "product" and (self.unit is None or self.per is None):
            raise ValueError("a product needs `unit` and `per`")
        if self.kind == "share" and self.counted_unit is None:
            raise ValueError("a share needs `counted_unit`")
        if self.kind == "ratio" and (
            self.unit is None
            or self.per is None
            or self.counted_unit is None
            or self.result_unit is None
        ):
            raise ValueError("a ratio needs `unit`, `per`, `counted_unit` and `result_unit`")
        for name in ("counted", "about", "own"):
            pattern = getattr(self, name)
            if pattern is None:
                continue
            try:
                # the count pattern embeds `counted`: it must compile there too ("(?i)" does not)
                re.compile(_count_pattern(pattern) if name == "counted" else pattern)
            except re.error as exc:
                raise ValueError(f"`{name}` is no regular expression: {exc}") from None
        return self


class _RatesFile(_Strict):
    rates: list[dict[str, Any]] = Field(default_factory=list)


# The visitor's number, then at most two describing words, then the counted word, which may
# follow a hyphenated prefix ("zwei erfahrene Senior-Techniker", "40-Stunden-Woche"); a
# compound ("45 Arbeitswochen") is the data's pattern to allow. A describing word is no number
# ("in 12 Monaten 3 Ausfälle" counts 3), no duration or share ("3 Tage Ausfall" is one outage)
# and no word such as "die", "pro" or "per", which makes the number a rate of its own ("5–8
# Std. die Woche"), not a count.
_SKIP = (
    r"(?:die|der|das|den|dem|pro|je|per|a|an|the|im|in|am|mal|x|von|of|bis|to|und|and|oder|or|"
    r"sekunden?|minuten?|stunden?|std|tage?n?|wochen?|monate?n?|jahre?n?|quartale?n?|seconds?|"
    r"minutes?|hours?|days?|weeks?|months?|quarters?|years?|prozent|percent|mal|times)"
)


def _count_pattern(counted: str) -> str:
    return (
        r"(?<![\d.,])(\d+(?:[.,]\d+)?)(?![\d])(?:\s*-\s*|\s*)"
        rf"(?:(?!{_SKIP}\b)(?!\d)[\w-]+\s+){{0,2}}?(?:\w+-)*(?:{counted})\b"
    )


# A number that is one end of a range ("2-3 Ausfälle", "zwei bis drei"): which end to scale
# is not the advisor's guess.
_RANGE_BEFORE = re.compile(r"\d\s*(?:[-–—]|bis|to|oder|or)\s*$", re.IGNORECASE)
_RANGE_AFTER = re.compile(r"^\s*(?:[-–—]|bis|to|oder|or)\s*\d", re.IGNORECASE)
# A count per period ("2 Ausfälle pro Monat") is a frequency; times the figure it would read
# as a total for the period the visitor asks about.
_PER_PERIOD = re.compile(
    r"^\s*(?:pro|je|per|a|im|in the|each|every|jeden|jede|jedes)\s+"
    r"(?:tag|woche|monat|quartal|jahr|day|week|month|quarter|year)",
    re.IGNORECASE,
)
# What asks for a result with the visitor's number, not for the figure alone ("Was kostet
# …?") or for something else ("wie viel Schadenersatz …?").
_ASKS = re.compile(
    r"\bzusammen\b|insgesamt|in summe|summiert|aufs jahr|hochgerechnet|rechn|"
    r"wie ?viele? (?:stunden|monate|euro|geld)|"
    r"wie ?viel (?:davon|ist das|wäre das|waere das|macht das|sind das|kostet (?:das|uns))|"
    r"was (?:w[aä]re?|macht|ergibt|kommt) (?:das|da)|"
    r"jährlichen kosten|jaehrlichen kosten|"
    r"(?:hätte|haette|würde|wuerde|hat) (?:uns )?das (?:\w+ ){0,4}?gekostet|kostet uns das|"
    r"what would (?:that|it|this) (?:have )?cost|"
    r"how much (?:is|would|does|will) (?:that|it|this)|how much (?:damage|money|of (?:it|that))|"
    r"how many (?:hours|months)|in total|altogether|add up|adds up|come to|comes to|calculate|"
    # a total the visitor proposes ("reden wir dann von über 160.000 €?")
    r"reden wir (?:dann |da )?von|sind (?:das|es) (?:dann )?(?:also )?(?:über |rund |etwa )?\d|"
    r"richtig gerechnet|are we talking|is that (?:about |around |over |roughly )?\d",
    re.IGNORECASE,
)
# Counts beyond this are no counts of outages, weeks or people (a pasted number, a year).
MAX_COUNT = 10_000


@dataclass(frozen=True)
class Scaled:
    """One computation: ``count`` (the visitor's number) with ``rate``; ``low``/``high`` the
    result."""

    rate: Rate
    count: float
    low: float
    high: float | None


@dataclass
class Rates:
    rates: tuple[Rate, ...] = ()

    def __post_init__(self) -> None:
        self._patterns = [
            (
                rate,
                re.compile(_count_pattern(rate.counted), re.IGNORECASE),
                re.compile(rate.about, re.IGNORECASE),
                re.compile(rate.own, re.IGNORECASE) if rate.own else None,
            )
            for rate in self.rates
        ]

    def scaled(self, message: str) -> list[Scaled]:
        """The computations ``message`` asks for: a number counting a rate's word, in a
        message about the rate that asks how much. A number the rate itself states ("5–8
        Std. die Woche" quoted back) is no count, nor is one."""
        if not _ASKS.search(message):
            return []
        text = numbers_to_digits(message)
        out: list[Scaled] = []
        for rate, count_pattern, about, own_pattern in self._patterns:
            if not about.search(text):
                continue
            stated = {rate.low, rate.high}
            owns = (
                {_number(m.group(1)) for m in own_pattern.finditer(text)} if own_pattern else set()
            )
            for match in count_pattern.finditer(text):
                count = _number(match.group(1))
                if count <= 1 or count in stated or count > MAX_COUNT:
                    continue  # "one senior technician" asks for the figure itself
                if rate.kind == "product" and (not count.is_integer() or 1900 <= count <= 2100):
                    continue  # "2,5 Ausfälle" counts nothing; "2024 Ausfälle" is a year
                if _RANGE_BEFORE.search(text[: match.start(1)]) or _RANGE_AFTER.match(
                    text[match.end(1) :]
                ):
                    continue
                if _PER_PERIOD.match(text[match.end() :]):
                    continue
                low, high = _result(rate, count)
                if owns - stated - {low, high}:
                    # the visitor's own figure ("ein Ausfall kostet uns 20.000 €"), not the
                    # document's, is theirs to scale; a total they propose is checked
                    break
                out.append(Scaled(rate, count, low, high))
                break
        return out


def _result(rate: Rate, count: float) -> tuple[float, float | None]:
    """The result's low and high end for the visitor's ``count``."""

    def one(value: float) -> float:
        if rate.kind == "share":
            return count * value / 100
        if rate.kind == "ratio":
            # "über 38,1 Monate" would overstate 38,09…: round towards the bound's side
            return math.floor(value / count * 10) / 10

        return count * value

    return one(rate.low), None if rate.high is None else one(rate.high)


def _number(text: str) -> float:
    """ "1.500" and "2,000" (thousands), "2,5" and "2.5" (decimals) as numbers."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", text) or re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        return float(text.replace(".", "").replace(",", ""))
    return float(text.replace(",", "."))


_BOUND_WORDS = {
    "over": r"(?:über|mehr als|more than|over)",
    "at_least": r"(?:mindestens|wenigstens|at least)",
}


def _bound_in(quote: str, value: float) -> str | None:
    """The bound the quote states before ``value`` ("über 80.000", "mindestens 50 %")."""
    shown = format_number(value, "de")
    for name, words in _BOUND_WORDS.items():
        if re.search(rf"{words}\s+{re.escape(shown)}(?!\d)", quote, re.IGNORECASE):
            return name
    return None


def rate_problems(rate: Rate, documents: dict[str, str], quotes: set[str] | None) -> list[str]:
    """Everything wrong with one rate, given the folded text of each document by id and the
    quotes of the curated answer it names (None: no such answer)."""
    problems: list[str] = []
    if rate.doc not in documents:
        problems.append(f"unknown document {rate.doc!r}")
    elif fold(rate.quote) not in documents[rate.doc]:
        problems.append(f"the quote is not verbatim in {rate.doc!r}: {rate.quote!r}")
    stated = numbers_in(rate.quote)
    for name in ("low", "high"):
        value = getattr(rate, name)
        if value is not None and value not in stated:
            problems.append(f"{name} {value:g} is no figure the quote states")
    if _bound_in(rate.quote, rate.low) != rate.bound:
        # "über 80.000" stated as exactly 80.000 (or a bound the quote does not give)
        problems.append(f"bound {rate.bound!r} is not what the quote states before {rate.low:g}")
    if quotes is None:
        problems.append(f"unknown curated answer {rate.entry!r}")
    elif rate.quote not in quotes:
        problems.append(f"the curated answer {rate.entry!r} does not quote the rate's sentence")
    return problems


def load_rates(path: Path, documents: list[SourceDocument], entries: dict[str, set[str]]) -> Rates:
    """Read and check ``path``; :class:`RatesError` lists every problem. A missing file is
    no rates. ``entries``: the curated answers a rate may name, with the quotes of each."""
    if not path.is_file():
        return Rates()
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
        raw = _RatesFile.model_validate(data).rates
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise RatesError([f"{path}: cannot read: {exc}"]) from None
    folded = {d.doc_id: fold(d.text) for d in documents}
    rates: list[Rate] = []
    problems: list[str] = []
    for i, item in enumerate(raw):
        label = f"{path}: rate {item.get('id', i)!r}" if isinstance(item, dict) else f"{path}: {i}"
        try:
            rate = Rate.model_validate(item)
        except ValidationError as exc:
            for e in exc.errors():
                where = ".".join(str(p) for p in e["loc"])
                problems.append(f"{label}: {where + ': ' if where else ''}{e['msg']}")
            continue
        found = rate_problems(rate, folded, entries.get(rate.entry))
        if any(r.id == rate.id for r in rates):
            found.insert(0, "duplicate id")
        problems += [f"{label}: {p}" for p in found]
        rates.append(rate)
    if problems:
        raise RatesError(problems)
    return Rates(tuple(rates))
