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

__all__ = ["Rate", "Rates", "RatesError", "Scaled", "load_rates"]

Language = Literal["de", "en"]


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
        for name in ("counted", "about"):
            try:
                re.compile(getattr(self, name))
            except re.error as exc:
                raise ValueError(f"`{name}` is no regular expression: {exc}") from None
        return self


class _RatesFile(_Strict):
    rates: list[dict[str, Any]] = Field(default_factory=list)


# The visitor's number, then at most two describing words, then the counted word, which may
# follow a hyphenated prefix ("zwei erfahrene Senior-Techniker", "40-Stunden-Woche"); a
# compound ("45 Arbeitswochen") is the data's pattern to allow. A word such as "die", "pro" or
# "per" between them makes the number a rate of its own ("5–8 Std. die Woche"), not a count.
_COUNT = (
    r"(?<![\d.,])(\d+(?:[.,]\d+)?)(?![\d])(?:\s*-\s*|\s*)"
    r"(?:(?!{skip}\b)[\w-]+\s+){{0,2}}?(?:\w+-)*(?:{counted})\b"
)
_SKIP = r"(?:die|der|das|den|dem|pro|je|per|a|an|the|im|in|am|mal|x|von|of|bis|to|und|and|oder|or)"
# What asks for a computation rather than for the figure alone.
_ASKS = re.compile(
    r"wie ?viel|was (?:w[aä]re?|macht|ergibt|kostet|kommt|bedeutet)|zusammen|insgesamt|in summe|"
    r"summiert|im jahr|pro jahr|aufs jahr|j[aä]hrlich|rechn|kosten|\bsumme|how much|how many|"
    r"total|altogether|in a year|per year|a year|annual|cost|add up|come to|calculate",
    re.IGNORECASE,
)


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
                re.compile(_COUNT.format(skip=_SKIP, counted=rate.counted), re.IGNORECASE),
                re.compile(rate.about, re.IGNORECASE),
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
        for rate, count_pattern, about in self._patterns:
            if not about.search(text):
                continue
            own = {rate.low, rate.high}
            for match in count_pattern.finditer(text):
                count = _number(match.group(1))
                if count <= 1 or count in own:
                    continue  # "one senior technician" asks for the figure itself
                out.append(Scaled(rate, count, *_result(rate, count)))
                break
        return out


def _result(rate: Rate, count: float) -> tuple[float, float | None]:
    """The result's low and high end for the visitor's ``count``."""

    def one(value: float) -> float:
        if rate.kind == "share":
            return count * value / 100
        if rate.kind == "ratio":
            return round(value / count, 1)
        return count * value

    return one(rate.low), None if rate.high is None else one(rate.high)


def _number(text: str) -> float:
    """ "1.500" and "2,000" (thousands), "2,5" and "2.5" (decimals) as numbers."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", text) or re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        return float(text.replace(".", "").replace(",", ""))
    return float(text.replace(",", "."))


def rate_problems(rate: Rate, documents: dict[str, str]) -> list[str]:
    """Everything wrong with one rate, given the folded text of each document by id."""
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
    return problems


def load_rates(path: Path, documents: list[SourceDocument], entries: set[str]) -> Rates:
    """Read and check ``path``; :class:`RatesError` lists every problem. A missing file is
    no rates. ``entries``: the curated answer ids a rate may name."""
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
            problems += [f"{label}: {e['msg']}" for e in exc.errors()]
            continue
        found = rate_problems(rate, folded)
        if rate.entry not in entries:
            found.append(f"unknown curated answer {rate.entry!r}")
        problems += [f"{label}: {p}" for p in found]
        rates.append(rate)
    if problems:
        raise RatesError(problems)
    return Rates(tuple(rates))
