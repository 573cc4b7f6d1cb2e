"""Deterministic reading of one chat message: language, intent, IT tasks and profile facts.

No language model is involved. Word lists and patterns live in ``prompts/understanding.yaml``
(validated and compiled once, on first use); German and English number words ("fünfundvierzig",
"forty-five") are turned into digits by ``text2num``. All public functions are pure: the same
message always gives the same answer, so every decision can be traced to a line of the lexicon.

Contracts in short:

* :func:`detect_language` - ``"de"`` or ``"en"``; unclear or mixed messages are German.
* :func:`detect_tasks` - task ids of ``knowledge/rules/scoring.yaml`` mentioned in the message,
  in canonical order (:data:`TASK_IDS`).
* :func:`extract_facts` - profile fields the user states about their *own* company (keys of
  :data:`FACT_FIELDS`, typed like ``server.profile.Profile``). A question about a generic company
  gives ``{}``; with ``expecting`` a bare answer ("45", "ja", "keinen") fills that field.
* :func:`classify_intent` - ``recommend`` / ``fact`` / ``smalltalk`` / ``out_of_scope``.
* :func:`is_injection` - prompt-injection or prompt/secret extraction attempt.
* :func:`understand` - all of the above at once; an injection or an out-of-scope message has
  no tasks and no facts, so it can never change the stored profile.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from ingest.yamlfile import safe_load
from server.numbers import numbers_to_digits

Language = Literal["de", "en"]
Intent = Literal["recommend", "fact", "smalltalk", "out_of_scope"]
SmalltalkKind = Literal["greeting", "thanks", "farewell"]

# The task ids of knowledge/rules/scoring.yaml, in the order the advisor presents them. The
# lexicon must define exactly these, so a renamed task fails on load and not as a silent miss.
TASK_IDS: Final[tuple[str, ...]] = (
    "helpdesk",
    "infrastructure",
    "m365",
    "security",
    "cloud",
    "backup",
    "projects",
    "strategy",
    "production_it",
    "confidential_it",
)
COUNT_FIELDS: Final[tuple[str, ...]] = ("employees", "pcs", "locations")
# complex_it and remote_work are not in the brief's list but are Profile fields the scoring asks
# about: without them a bare "ja" to those questions would be lost.
BOOL_FIELDS: Final[tuple[str, ...]] = (
    "key_user",
    "production_systems",
    "confidential_areas",
    "needs_24x7",
    "regulated",
    "growth",
    "complex_it",
    "remote_work",
)
# Order of the keys in extract_facts' result (the order of server.profile.Profile).
FACT_FIELDS: Final[tuple[str, ...]] = (
    "employees",
    "pcs",
    "it_staff",
    "key_user",
    "production_systems",
    "confidential_areas",
    "needs_24x7",
    "regulated",
    "growth",
    "complex_it",
    "locations",
    "remote_work",
    "internal_cost_per_it_staff_eur",
    "external_price_per_user_month_eur",
)
# Prices the user states (euros); read by the `prices` patterns of the lexicon.
PRICE_FIELDS: Final[tuple[str, ...]] = (
    "internal_cost_per_it_staff_eur",
    "external_price_per_user_month_eur",
)

DEFAULT_LEXICON_PATH: Final[Path] = (
    Path(__file__).resolve().parents[1] / "prompts" / "understanding.yaml"
)

# Plausibility limits: a number outside them is a misreading ("Office 365 Standorte"), not a
# fact. Profile validation would refuse some of them anyway (locations >= 1).
_COUNT_LIMITS: Final[Mapping[str, tuple[int, int]]] = {
    "employees": (1, 1_000_000),
    "pcs": (0, 1_000_000),
    "locations": (1, 10_000),
}
_IT_STAFF_MAX: Final = 10_000.0
_PRICE_MAX: Final[Mapping[str, float]] = {
    "external_price_per_user_month_eur": 10_000.0,
    "internal_cost_per_it_staff_eur": 1_000_000.0,
}


class LexiconError(ValueError):
    """prompts/understanding.yaml is missing, malformed or inconsistent."""


# --- Text normalisation ----------------------------------------------------------------------

# Folding makes "Datensicherung", "DATENSICHERUNG" and "Datensicherüng" comparable and lets the
# lexicon use one spelling for "für"/"fuer": lower case, umlauts as ae/oe/ue, ß as ss, every
# kind of dash as "-" and typographic apostrophes as "'".
_FOLD_TABLE: Final = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u00a0": " ",
    }
)
_SPACES: Final = re.compile(r"[^\S\n]+")
_WORD: Final = re.compile(r"[\w']+")
_LETTER_WORD: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# "IT" in capitals is the German/English noun, never the English pronoun "it".
_IT_CAPS: Final = re.compile(r"(?<![\w-])IT(?!\w)")


def fold(text: str) -> str:
    """Lower-case ``text`` and spell umlauts, ß, dashes and apostrophes the ASCII way."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_FOLD_TABLE)
    return _SPACES.sub(" ", text)


# --- Lexicon ------------------------------------------------------------------------------------

_TOP_KEYS: Final = frozenset(
    {
        "version",
        "language",
        "self_reference",
        "generic",
        "question_start",
        "negation",
        "hypothetical",
        "question_cues",
        "counts",
        "it_staff",
        "facts",
        "tasks",
        "intent",
        "injection",
        "injection_case_sensitive",
        "answers",
        "prices",
        "not_own",
        "not_now",
    }
)


@dataclass(frozen=True)
class Lexicon:
    """The compiled word lists of prompts/understanding.yaml."""

    de_words: frozenset[str]
    en_words: frozenset[str]
    de_suffixes: tuple[str, ...]
    self_reference: re.Pattern[str]
    generic: re.Pattern[str]
    question_start: frozenset[str]
    negators: frozenset[str]
    negation_after: re.Pattern[str]
    hypothetical: re.Pattern[str]
    not_own: re.Pattern[str]
    not_now: re.Pattern[str]
    question_cues: re.Pattern[str]
    count_patterns: Mapping[str, tuple[re.Pattern[str], ...]]
    count_nouns: Mapping[str, re.Pattern[str]]
    it_staff_zero: re.Pattern[str]
    it_staff_half: re.Pattern[str]
    it_staff_one: re.Pattern[str]
    fact_match: Mapping[str, re.Pattern[str]]
    fact_exclude: Mapping[str, re.Pattern[str] | None]
    task_match: Mapping[str, re.Pattern[str]]
    task_exclude: Mapping[str, re.Pattern[str] | None]
    recommend: re.Pattern[str]
    costs: re.Pattern[str]
    all_tasks: re.Pattern[str]
    urgent: re.Pattern[str]
    prices: Mapping[str, tuple[re.Pattern[str], ...]]
    price_claim: re.Pattern[str]
    price_offer: re.Pattern[str]
    follow_up: re.Pattern[str]
    smalltalk: re.Pattern[str]
    smalltalk_prefix: re.Pattern[str]
    thanks: re.Pattern[str]
    farewell: re.Pattern[str]
    out_of_scope_hard: re.Pattern[str]
    out_of_scope_soft: re.Pattern[str]
    domain: re.Pattern[str]
    injection: re.Pattern[str]
    injection_case_sensitive: re.Pattern[str]
    yes_phrases: tuple[str, ...]
    no_phrases: tuple[str, ...]
    zero_phrases: tuple[str, ...]
    one_phrases: tuple[str, ...]
    filler: frozenset[str]


def _glob_to_regex(glob: str) -> str:
    """Translate a lexicon keyword into a regex on folded text (syntax: see the YAML header)."""
    word = fold(glob).strip()
    parts: list[str] = []
    for char in word:
        if char == "*":
            parts.append(r"\w*")
        elif char == " ":
            parts.append(r"[\s\-]+")
        elif char == "-":
            parts.append(r"[\s\-]?")
        else:
            parts.append(re.escape(char))
    # Anchored at a word start even with a leading "*" (then the match covers the whole
    # compound): an unanchored \w* would be retried at every letter, quadratic on long words.
    end = "" if word.endswith("*") else r"(?!\w)"
    return r"(?<!\w)" + "".join(parts) + end


def _entry_to_regex(entry: str, where: str) -> str:
    if not entry.startswith("re:"):
        return _glob_to_regex(entry)
    source = entry[3:]
    # Regexes run on folded text: an upper-case letter or an umlaut can never match there.
    if re.search(r"[A-ZÄÖÜäöüß]", re.sub(r"\\.", "", source)):
        raise LexiconError(
            f"{where}: regex {source!r} must be written folded (lower case, ae/oe/ue)"
        )
    _compile_one(source, where)
    # Every regex starts at a word edge: "ein" must not match inside "kein". A regex that wants
    # to match inside a compound starts with \w* (which the guard does not hinder).
    return rf"(?<!\w)(?:{source})"


def _compile_one(source: str, where: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid regex {source!r}: {exc}") from exc


def _alternation(entries: Sequence[str], where: str) -> str:
    return "|".join(f"(?:{_entry_to_regex(entry, where)})" for entry in entries)


def _pattern(entries: Sequence[str], where: str) -> re.Pattern[str]:
    return _compile_one(_alternation(entries, where), where)


def _need(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise LexiconError(f"{where}: missing key {key!r}")
    return data[key]


def _mapping(value: Any, where: str, keys: frozenset[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise LexiconError(f"{where}: expected a mapping")
    if keys is not None:
        unknown = sorted(set(value) - keys)
        missing = sorted(keys - set(value))
        if unknown or missing:
            raise LexiconError(f"{where}: unknown keys {unknown}, missing keys {missing}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    # YAML turns bare yes/no/on/off/null into booleans and None: refuse them loudly.
    if not isinstance(value, list) or not value:
        raise LexiconError(f"{where}: expected a non-empty list of strings")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise LexiconError(f"{where}: {item!r} is not a non-empty string (quote it)")
    return value


def _words(value: Any, where: str) -> frozenset[str]:
    words = _strings(value, where)
    for word in words:
        if word.startswith("re:"):
            raise LexiconError(f"{where}: plain words only, got {word!r}")
    return frozenset(fold(word).strip() for word in words)


def _phrases(value: Any, where: str) -> tuple[str, ...]:
    # Longest first, so "eher nicht" is tried before "eher".
    return tuple(sorted(_words(value, where), key=len, reverse=True))


def _match_exclude(value: Any, where: str) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    if isinstance(value, list):
        return _pattern(_strings(value, where), where), None
    spec = _mapping(value, where)
    unknown = sorted(set(spec) - {"match", "exclude"})
    if unknown:
        raise LexiconError(f"{where}: unknown keys {unknown}")
    match = _pattern(_strings(_need(spec, "match", where), f"{where}.match"), where)
    exclude = None
    if "exclude" in spec:
        exclude = _pattern(_strings(spec["exclude"], f"{where}.exclude"), f"{where}.exclude")
    return match, exclude


def _price_patterns(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    """One pattern per entry (each has its own ``num`` group); ``{num}`` is a number."""
    patterns = []
    for entry in _strings(value, where):
        if not entry.startswith("re:") or "{num}" not in entry:
            raise LexiconError(f"{where}: {entry!r} must be a regex with a {{num}} placeholder")
        _entry_to_regex(entry, where)  # checks case and syntax with {num} as a literal
        patterns.append(_compile_one(rf"(?<!\w)(?:{entry[3:].replace('{num}', _NUM)})", where))
    return tuple(patterns)


def _build_lexicon(data: Any, source: str) -> Lexicon:
    root = _mapping(data, source, _TOP_KEYS)
    if root["version"] != 1:
        raise LexiconError(f"{source}: unsupported version {root['version']!r}")

    language = _mapping(root["language"], "language", frozenset({"de", "en", "de_suffixes"}))
    negation = _mapping(root["negation"], "negation", frozenset({"before", "after"}))
    counts = _mapping(
        root["counts"], "counts", frozenset({*COUNT_FIELDS, "it_staff", "adjectives"})
    )
    it_staff = _mapping(root["it_staff"], "it_staff", frozenset({"zero", "half", "one"}))
    facts = _mapping(root["facts"], "facts", frozenset(BOOL_FIELDS))
    tasks = _mapping(root["tasks"], "tasks", frozenset(TASK_IDS))
    intent = _mapping(
        root["intent"],
        "intent",
        frozenset(
            {
                "recommend",
                "costs",
                "all_tasks",
                "urgent",
                "follow_up",
                "smalltalk",
                "thanks",
                "farewell",
                "out_of_scope_hard",
                "out_of_scope_soft",
                "domain",
            }
        ),
    )
    answers = _mapping(
        root["answers"], "answers", frozenset({"yes", "no", "zero", "one", "filler"})
    )
    prices = _mapping(
        root["prices"], "prices", frozenset({"per_user_month", "per_staff_year", "claim", "offer"})
    )

    fact_match: dict[str, re.Pattern[str]] = {}
    fact_exclude: dict[str, re.Pattern[str] | None] = {}
    for name in BOOL_FIELDS:
        fact_match[name], fact_exclude[name] = _match_exclude(facts[name], f"facts.{name}")
    task_match: dict[str, re.Pattern[str]] = {}
    task_exclude: dict[str, re.Pattern[str] | None] = {}
    for task in TASK_IDS:
        task_spec = _mapping(tasks[task], f"tasks.{task}")
        task_match[task], task_exclude[task] = _match_exclude(task_spec, f"tasks.{task}")

    # Small talk must cover the whole message: a run of phrases separated by spaces.
    small = _alternation(_strings(intent["smalltalk"], "intent.smalltalk"), "intent.smalltalk")
    smalltalk = _compile_one(f"(?:{small})(?:\\s+(?:{small}))*", "intent.smalltalk")

    injection_cs = _strings(root["injection_case_sensitive"], "injection_case_sensitive")
    return Lexicon(
        de_words=_words(language["de"], "language.de"),
        en_words=_words(language["en"], "language.en"),
        de_suffixes=tuple(sorted(_words(language["de_suffixes"], "language.de_suffixes"))),
        self_reference=_pattern(_strings(root["self_reference"], "self_reference"), "self"),
        generic=_pattern(_strings(root["generic"], "generic"), "generic"),
        question_start=_words(root["question_start"], "question_start"),
        negators=_words(negation["before"], "negation.before"),
        negation_after=_pattern(_strings(negation["after"], "negation.after"), "negation"),
        hypothetical=_pattern(_strings(root["hypothetical"], "hypothetical"), "hypothetical"),
        not_own=_pattern(_strings(root["not_own"], "not_own"), "not_own"),
        not_now=_pattern(_strings(root["not_now"], "not_now"), "not_now"),
        question_cues=_pattern(_strings(root["question_cues"], "question_cues"), "question_cues"),
        count_nouns={
            name: _compile_one(
                _alternation(_strings(counts[name], f"counts.{name}"), f"counts.{name}"),
                f"counts.{name}",
            )
            for name in (*COUNT_FIELDS, "it_staff")
        },
        count_patterns=_build_count_patterns(
            {
                name: _alternation(_strings(counts[name], f"counts.{name}"), f"counts.{name}")
                for name in (*COUNT_FIELDS, "it_staff")
            },
            _alternation(_strings(counts["adjectives"], "counts.adjectives"), "counts.adjectives"),
        ),
        it_staff_zero=_pattern(_strings(it_staff["zero"], "it_staff.zero"), "it_staff.zero"),
        it_staff_half=_pattern(_strings(it_staff["half"], "it_staff.half"), "it_staff.half"),
        it_staff_one=_pattern(_strings(it_staff["one"], "it_staff.one"), "it_staff.one"),
        fact_match=fact_match,
        fact_exclude=fact_exclude,
        task_match=task_match,
        task_exclude=task_exclude,
        recommend=_pattern(_strings(intent["recommend"], "intent.recommend"), "recommend"),
        costs=_pattern(_strings(intent["costs"], "intent.costs"), "intent.costs"),
        price_claim=_pattern(_strings(prices["claim"], "prices.claim"), "prices.claim"),
        price_offer=_pattern(_strings(prices["offer"], "prices.offer"), "prices.offer"),
        all_tasks=_pattern(_strings(intent["all_tasks"], "intent.all_tasks"), "intent.all_tasks"),
        urgent=_pattern(_strings(intent["urgent"], "intent.urgent"), "intent.urgent"),
        prices={
            "external_price_per_user_month_eur": _price_patterns(
                prices["per_user_month"], "prices.per_user_month"
            ),
            "internal_cost_per_it_staff_eur": _price_patterns(
                prices["per_staff_year"], "prices.per_staff_year"
            ),
        },
        follow_up=_pattern(_strings(intent["follow_up"], "intent.follow_up"), "follow_up"),
        smalltalk=smalltalk,
        thanks=_pattern(_strings(intent["thanks"], "intent.thanks"), "intent.thanks"),
        farewell=_pattern(_strings(intent["farewell"], "intent.farewell"), "intent.farewell"),
        smalltalk_prefix=_compile_one(f"(?:{small})(?:\\s+(?:{small}))*(?!\\w)", "smalltalk"),
        out_of_scope_hard=_pattern(
            _strings(intent["out_of_scope_hard"], "intent.out_of_scope_hard"), "oos_hard"
        ),
        out_of_scope_soft=_pattern(
            _strings(intent["out_of_scope_soft"], "intent.out_of_scope_soft"), "oos_soft"
        ),
        domain=_pattern(_strings(intent["domain"], "intent.domain"), "intent.domain"),
        injection=_pattern(_strings(root["injection"], "injection"), "injection"),
        injection_case_sensitive=_compile_one(
            "|".join(f"(?:{source})" for source in injection_cs), "injection_case_sensitive"
        ),
        yes_phrases=_phrases(answers["yes"], "answers.yes"),
        no_phrases=_phrases(answers["no"], "answers.no"),
        zero_phrases=_phrases(answers["zero"], "answers.zero"),
        one_phrases=_phrases(answers["one"], "answers.one"),
        filler=_words(answers["filler"], "answers.filler"),
    )


@functools.cache
def load_lexicon(path: Path = DEFAULT_LEXICON_PATH) -> Lexicon:
    """Read, validate and compile the lexicon once per path; LexiconError if it is broken."""
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError(f"cannot read {path}: {exc}") from exc
    return _build_lexicon(data, str(path))


# --- Per-message preparation -----------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    original: str  # NFKC-normalised message
    folded: str  # fold(original)
    numeric: str  # folded, with number words as digits
    language: Language
    language_sure: bool  # False when no word, umlaut or ending told the language


def _language_scores(original: str, lex: Lexicon) -> tuple[float, float]:
    de = float(min(sum(original.count(char) for char in "äöüÄÖÜß"), 3))
    en = 0.0
    for raw in _LETTER_WORD.findall(original.replace("\u2019", "'")):
        if raw == "IT":
            continue
        token = fold(raw)
        in_de, in_en = token in lex.de_words, token in lex.en_words
        de += in_de
        en += in_en
        if not (in_de or in_en) and len(token) > 4 and token.endswith(lex.de_suffixes):
            de += 0.5
    return de, en


@functools.lru_cache(maxsize=512)
def _prepare(message: str) -> _Prepared:
    # Cached: understand() asks for language, tasks, facts and intent of the same message.
    lex = load_lexicon()
    original = unicodedata.normalize("NFKC", message)
    de, en = _language_scores(original, lex)
    language: Language = "en" if en > de else "de"
    numeric = fold(numbers_to_digits(original, language))
    return _Prepared(original, fold(original), numeric, language, language_sure=de != en)


# --- Language, injection, tasks ----------------------------------------------------------------


def detect_language(message: str) -> Language:
    """``"en"`` when English words outweigh German words, umlauts and German endings, else
    ``"de"`` (also for empty, mixed or unclear messages such as "hi" or "OK")."""
    return _prepare(message).language


def _is_injection(prep: _Prepared, lex: Lexicon) -> bool:
    return bool(
        lex.injection.search(prep.folded) or lex.injection_case_sensitive.search(prep.original)
    )


def is_injection(message: str) -> bool:
    """True for attempts to override the advisor's rules or to extract its prompt,
    configuration or secrets (German and English)."""
    return _is_injection(_prepare(message), load_lexicon())


def _blank(text: str, pattern: re.Pattern[str] | None) -> str:
    """Replace every match of ``pattern`` by spaces (keeps all other positions)."""
    if pattern is None:
        return text
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _tasks(prep: _Prepared, lex: Lexicon) -> list[str]:
    return [
        task
        for task in TASK_IDS
        if lex.task_match[task].search(_blank(prep.folded, lex.task_exclude[task]))
    ]


def detect_tasks(message: str) -> list[str]:
    """Task ids (:data:`TASK_IDS` order) the message mentions, negated or not."""
    return _tasks(_prepare(message), load_lexicon())


# --- Facts ------------------------------------------------------------------------------------

# A clause ends at punctuation, a spaced dash or a conjunction: "keine eigene IT, aber einen
# Key-User" has two clauses, so "keine" does not negate the key user.
_CLAUSE_BREAK: Final = re.compile(
    r"[,;:.!?()\n]|\s-\s|(?<!\w)(?:aber|but|und|and|sondern|jedoch|however|oder|or|sowie|"
    r"dafuer|whereas|while|waehrend)(?!\w)"
)
# A possessive right before a staff fact means the company has it ("unseren Key-User schulen").
_POSSESSIVE: Final = frozenset(
    {"unser", "unsere", "unseren", "unserem", "unserer", "unseres", "our"}
    | {"mein", "meine", "meinen", "meinem", "meiner", "my"}
)
_NUM: Final = r"(?<![\w/.,])(?P<num>\d{1,3}(?:[.,]\d{3})+(?![.,]?\d)|\d+(?:[.,]\d+)?)"
_APPROX: Final = (
    r"(?:(?:ca\.?|circa|etwa|rund|knapp|ungefaehr|ueber|about|around|roughly|approximately)\s+)?"
)


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for match in _CLAUSE_BREAK.finditer(text, 0, start):
        left = match.end()
    following = _CLAUSE_BREAK.search(text, end)
    return left, following.start() if following else len(text)


def _negated(lex: Lexicon, text: str, start: int, end: int) -> bool:
    """A negator shortly before, inside ("Maschinen, die nicht gesteuert werden") or right
    after ("Produktion haben wir nicht") the match, within its clause."""
    left, right = _clause(text, start, end)
    words = _WORD.findall(text[left:start])[-4:] + _WORD.findall(text[start:end])
    if any(word in lex.negators or word.endswith("n't") for word in words):
        return True
    return bool(lex.negation_after.search(text[end:right]))


def _hypothetical(
    lex: Lexicon, text: str, start: int, end: int, cues: re.Pattern[str] | None = None
) -> bool:
    """A wish, plan or question ("Sollten wir einen Admin einstellen?") rather than a fact."""
    left, right = _clause(text, start, end)
    if set(_WORD.findall(text[left:start])[-2:]) & _POSSESSIVE:
        return False
    return bool((cues or lex.hypothetical).search(text[left:right]))


def _parse_number(raw: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", raw):  # 1.200 (de) or 1,200 (en)
        return float(re.sub(r"[.,]", "", raw))
    return float(raw.replace(",", "."))


def _build_count_patterns(
    count_nouns: Mapping[str, str], count_adjectives: str
) -> Mapping[str, tuple[re.Pattern[str], ...]]:
    """Number-and-noun patterns per count field, built from the lexicon's noun lists."""
    adjectives = f"(?:(?:{count_adjectives})\\s+){{0,2}}"
    link = r"\s*(?:-\s*)?"
    patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
    for name in (*COUNT_FIELDS, "it_staff"):
        nouns = f"(?:{count_nouns[name]})"
        forms = [
            f"{_NUM}{link}{adjectives}{nouns}",  # "45 PCs", "60 feste Mitarbeiter"
            f"{nouns}\\s*[:=]\\s*{_APPROX}{_NUM}",  # "PCs: 45"
        ]
        if name == "it_staff":
            people = r"(?:personen|leuten|leute|mitarbeiter\w*|koepfen|people|persons|members)"
            forms += [
                rf"it-?\s*(?:team|abteilung)\s+(?:von|mit|aus)\s+{_APPROX}{_NUM}(?:\s+{people})?",
                rf"{_NUM}[\s-]*(?:koepfig\w*|personen|mann)[\s-]+it-?\s*(?:team|abteilung)",
                rf"it\s+(?:team|department)\s+of\s+{_APPROX}{_NUM}",
                rf"{_NUM}\s+(?:{people}\s+)?(?:in\s+der\s+it|im\s+it-team|in\s+it)(?!\w)",
                rf"{_NUM}\s*(?:vollzeit)?stellen?\s+(?:(?:fuer|in)\s+(?:die\s+|der\s+)?)?"
                rf"(?:it|edv)(?!\w)",
            ]
        if name == "employees":
            forms.append(rf"(?:wir\s+sind|we\s+are)\s+{_APPROX}{_NUM}(?=\s*(?:$|[,.;!?)]|und|and))")
        if name == "locations":
            forms.append(
                rf"(?:nur\s+|only\s+)?(?:einem|einen|einer|eine|ein|one|a\s+single|single)\s+"
                rf"{adjectives}(?P<one>{nouns})"
            )
        patterns[name] = tuple(re.compile(form) for form in forms)
    return patterns


def _count_value(match: re.Match[str]) -> float:
    if "one" in match.groupdict() and match.group("one"):
        return 1.0
    return _parse_number(match.group("num"))


def _speaks_about_self(prep: _Prepared, lex: Lexicon) -> bool:
    return bool(lex.self_reference.search(prep.folded))


def _is_question(prep: _Prepared, lex: Lexicon) -> bool:
    words = _WORD.findall(prep.folded)
    return "?" in prep.original or bool(words and words[0] in lex.question_start)


def is_question(message: str) -> bool:
    """A question mark, or a question word or verb first ("macht der Zugriff von unterwegs
    unsere IT riskanter" is asked without one)."""
    return _is_question(_prepare(message), load_lexicon())


def _facts_allowed(prep: _Prepared, lex: Lexicon) -> bool:
    # The user speaks about their own company, or states a bare profile ("50 PCs, 60
    # Mitarbeiter, keine IT"); a question about "ein Unternehmen mit 50 PCs" is not a fact.
    if _speaks_about_self(prep, lex):
        return True
    return not _is_question(prep, lex) and not lex.generic.search(prep.folded)


def _it_staff(lex: Lexicon, text: str) -> tuple[float | None, list[tuple[int, int]]]:
    """Internal IT staff in FTE and the spans that said so (to hide them from other counts)."""
    candidates: list[tuple[int, float]] = []  # (priority, value); lower priority wins
    spans: list[tuple[int, int]] = []

    def usable(match: re.Match[str]) -> bool:
        return not _hypothetical(lex, text, match.start(), match.end())

    for match in lex.it_staff_half.finditer(text):
        spans.append(match.span())
        if usable(match) and not _negated(lex, text, match.start(), match.end()):
            candidates.append((0, 0.5))
    for pattern in lex.count_patterns["it_staff"]:
        for match in pattern.finditer(text):
            spans.append(match.span())
            if usable(match):
                candidates.append((1, _count_value(match)))
    for match in lex.it_staff_one.finditer(text):
        spans.append(match.span())
        if usable(match) and not _negated(lex, text, match.start(), match.end()):
            candidates.append((2, 1.0))
    for match in lex.it_staff_zero.finditer(text):
        spans.append(match.span())
        if usable(match):
            candidates.append((3, 0.0))
    valid = [(rank, value) for rank, value in candidates if 0 <= value <= _IT_STAFF_MAX]
    return (min(valid)[1] if valid else None), spans


def _blank_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _counts(lex: Lexicon, text: str) -> tuple[dict[str, int], str]:
    found: dict[str, int] = {}
    for name in ("pcs", "employees", "locations"):
        low, high = _COUNT_LIMITS[name]
        for pattern in lex.count_patterns[name]:
            match = pattern.search(text)
            if match is None:
                continue
            value = _count_value(match)
            if value.is_integer() and low <= value <= high:
                found.setdefault(name, int(value))
            text = _blank_spans(text, [match.span()])
    return found, text


def _booleans(lex: Lexicon, text: str) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for name in BOOL_FIELDS:
        scan = _blank(text, lex.fact_exclude[name])
        values: set[bool] = set()
        for match in lex.fact_match[name].finditer(scan):
            start, end = match.span()
            if name == "key_user" and _hypothetical(lex, scan, start, end):
                continue
            if name == "needs_24x7" and _hypothetical(lex, scan, start, end, lex.question_cues):
                continue
            values.add(not _negated(lex, scan, start, end))
        if values:
            found[name] = True in values  # "kein 24/7, aber Schichtbetrieb" → True
    return found


def _starts_with(text: str, phrases: Sequence[str]) -> bool:
    return any(re.match(rf"{re.escape(phrase)}(?!\w)", text) for phrase in phrases)


def _only_an_answer(lex: Lexicon, words: Sequence[str], field: str) -> bool:
    """True when a message is nothing but an answer to a question about ``field``: numbers,
    filler words, "keinen"/"einen" and the field's own nouns ("45 Rechner", "ca. 30 Leute")."""
    nouns = lex.count_nouns.get(field)
    allowed = lex.filler | set(lex.zero_phrases) | set(lex.one_phrases)
    for word in words:
        if word[0].isdigit() or word in allowed:
            continue
        if nouns is not None and nouns.fullmatch(word):
            continue
        return False
    return True


def _bare_answer(lex: Lexicon, text: str, field: str) -> object | None:
    """Value of ``field`` in a short answer to the advisor's question ("45", "ja", "keinen")."""
    words = _WORD.findall(text)
    if not words or len(words) > 12:
        return None
    start = " ".join(words)
    number = re.search(_NUM, text)
    if field in BOOL_FIELDS:
        if _starts_with(start, lex.no_phrases):
            return False
        if _starts_with(start, lex.yes_phrases):
            return True
        return None
    head = " ".join(words[:3])
    if not _only_an_answer(lex, words, field):
        return None
    if field == "it_staff":
        if number is not None:
            value = _parse_number(number.group("num"))
            return value if value <= _IT_STAFF_MAX else None
        if _starts_with(start, lex.zero_phrases):
            return 0.0
        if any(word.startswith("halb") or word == "half" for word in words):
            return 0.5
        if any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", head) for p in lex.one_phrases):
            return 1.0
        return None
    if field in PRICE_FIELDS:
        if number is None:
            return None
        value = _parse_number(number.group("num"))
        return value if 0 < value <= _PRICE_MAX[field] else None
    low, high = _COUNT_LIMITS[field]
    if number is not None:
        value = _parse_number(number.group("num"))
        return int(value) if value.is_integer() and low <= value <= high else None
    if field == "locations" and any(
        re.search(rf"(?<!\w){re.escape(p)}(?!\w)", head) for p in lex.one_phrases
    ):
        return 1
    return None


_THOUSANDS_K: Final = re.compile(r"(?<![\w.,])(\d{1,4}(?:[.,]\d)?)\s?k(?=\s*(?:euro|eur|€)|\s|$)")


def _expand_k(match: re.Match[str]) -> str:
    return str(round(float(match.group(1).replace(",", ".")) * 1000))


def _without_claim(lex: Lexicon, sentence: str) -> str:
    """The sentence blanked from the clause that attributes a figure to a source on: "Unser
    Admin kostet 75.000 € im Jahr und laut Whitepaper bräuchten wir zwei" keeps the admin's
    cost; "IT kostet laut Whitepaper 5 Euro pro User" keeps nothing."""
    match = lex.price_claim.search(sentence)
    if match is None:
        return sentence
    start = _clause(sentence, match.start(), match.end())[0]
    return sentence[:start] + " " * (len(sentence) - start)


def _prices(lex: Lexicon, text: str) -> tuple[dict[str, float], str]:
    """Prices the user states, and the text with them blanked (they are not counts)."""
    found: dict[str, float] = {}
    text = _THOUSANDS_K.sub(_expand_k, text)  # "60k Euro" → "60000 Euro"
    claims = "".join(_without_claim(lex, m.group(0)) for m in _SENTENCE.finditer(text))
    for name in PRICE_FIELDS:
        for pattern in lex.prices[name]:
            match = pattern.search(claims)
            if match is None:
                continue
            value = _parse_number(match.group("num"))
            claims = _blank_spans(claims, [match.span()])
            if 0 < value <= _PRICE_MAX[name]:
                found.setdefault(name, value)
            text = _blank_spans(text, [match.span()])
    return found, text


# A sentence ends at . ! ? ; or a line break, but not inside a number ("60.000").
_SENTENCE: Final = re.compile(r"(?:[^.!?;\n]|(?<=\d)\.(?=\d))+[.!?;\n]*")


def _own_sentences(text: str, lex: Lexicon) -> str:
    """The text with every sentence about another or an imagined company, and every clause
    about the past or a condition, blanked out (positions kept). A provider's offer to the
    visitor ("Ein MSP hat uns 45 Euro pro User angeboten") is the visitor's own figure."""
    text = "".join(
        " " * len(m.group(0))
        if lex.not_own.search(m.group(0)) and not lex.price_offer.search(m.group(0))
        else m.group(0)
        for m in _SENTENCE.finditer(text)
    )
    spans: list[tuple[int, int]] = []
    for match in lex.not_now.finditer(text):
        spans.append(_clause(text, match.start(), match.end()))
    return _blank_spans(text, spans)


def _facts(prep: _Prepared, lex: Lexicon, expecting: str | None) -> dict[str, object]:
    found: dict[str, object] = {}
    text = own = _own_sentences(prep.numeric, lex)
    if expecting is not None or _facts_allowed(prep, lex):
        # Prices first: "60 Euro pro User" must not be read as 60 employees.
        prices, text = _prices(lex, text)
        found.update(prices)
        it_staff, spans = _it_staff(lex, text)
        text = _blank_spans(text, spans)
        counts, text = _counts(lex, text)
        found.update(counts)
        if it_staff is not None:
            found["it_staff"] = it_staff
        found.update(_booleans(lex, own))
    if expecting is not None and expecting not in found:
        value = _bare_answer(lex, text, expecting)
        if value is not None:
            found[expecting] = value
    # IT staff are employees: more IT staff than employees is a misreading, not a fact.
    employees, staff = found.get("employees"), found.get("it_staff")
    if isinstance(employees, int) and isinstance(staff, float) and staff > employees:
        del found["it_staff"]
    return {name: found[name] for name in FACT_FIELDS if name in found}


def _check_expecting(expecting: str | None) -> None:
    if expecting is not None and expecting not in FACT_FIELDS:
        raise ValueError(f"expecting must be one of {FACT_FIELDS}, got {expecting!r}")


def extract_facts(message: str, *, expecting: str | None = None) -> dict[str, object]:
    """Profile facts the user states about their own company.

    Keys are among :data:`FACT_FIELDS`: ``employees``/``pcs``/``locations`` (int), ``it_staff``
    (float, internal IT in FTE: "keine eigene IT" → 0.0, "eine halbe Stelle IT" → 0.5) and the
    yes/no fields (bool; negations give False: "keine Produktion"). Facts are only read when
    the user talks about themselves (wir/uns/unser/ich/we/our/us/I...) or states a bare,
    non-question profile ("50 PCs, 60 Mitarbeiter"); a question about a generic company gives
    ``{}``. ``expecting`` names the field the advisor just asked for: then a bare "45",
    "ja"/"nein"/"yes"/"no", "keinen" or "einen" fills that field. Company types alone
    ("Maschinenbauer", "Fertigungsbetrieb") do not set ``production_systems``. ValueError for
    an unknown ``expecting``.
    """
    _check_expecting(expecting)
    return _facts(_prepare(message), load_lexicon(), expecting)


# --- Intent -------------------------------------------------------------------------------------


def in_domain(message: str) -> bool:
    """Whether the message uses the vocabulary of IT sourcing at all (tasks, company facts,
    domain words): what tells "not covered" from "off-topic"."""
    prep, lex = _prepare(message), load_lexicon()
    return bool(_tasks(prep, lex) or _facts(prep, lex, None)) or _in_domain(prep, lex)


def asks_about_all_tasks(message: str) -> bool:
    """ "Welche Aufgaben sollten wir auslagern?", "Was bleibt intern, was geht raus?": a
    request for the whole recommendation, not a question about one fact."""
    prep, lex = _prepare(message), load_lexicon()
    return bool(lex.all_tasks.search(prep.folded))


def _is_smalltalk(prep: _Prepared, lex: Lexicon) -> bool:
    words = re.sub(r"[^\w' ]+", " ", prep.folded).split()
    # At most 10 words: keeps the full-cover match cheap and long messages out of small talk.
    return 0 < len(words) <= 10 and lex.smalltalk.fullmatch(" ".join(words)) is not None


def _is_follow_up(prep: _Prepared, lex: Lexicon) -> bool:
    """A short "Und das Backup?" / "What about security?" after a profile is known."""
    text = " ".join(re.sub(r"[^\w' -]+", " ", prep.folded).split())
    courtesy = lex.smalltalk_prefix.match(text)  # "Danke, und das Backup?"
    if courtesy:
        text = text[courtesy.end() :].strip()
    prefix = lex.follow_up.match(text)
    rest = _WORD.findall(text[prefix.end() :] if prefix else text)
    if any(word in lex.question_start for word in rest):
        return False
    return len(rest) <= (4 if prefix else 2)


def _asks_costs(prep: _Prepared, lex: Lexicon) -> bool:
    return bool(lex.costs.search(prep.folded))


def _in_domain(prep: _Prepared, lex: Lexicon) -> bool:
    return bool(lex.domain.search(prep.folded) or _IT_CAPS.search(prep.original))


def _classify(
    prep: _Prepared,
    lex: Lexicon,
    *,
    has_profile: bool,
    tasks: Sequence[str],
    facts: Mapping[str, object],
    expecting: str | None,
) -> Intent:
    if not prep.folded.strip():
        return "smalltalk"
    if (
        _is_injection(prep, lex)
        or lex.out_of_scope_hard.search(prep.folded)
        or lex.urgent.search(prep.folded)
    ):
        return "out_of_scope"
    if _is_smalltalk(prep, lex):
        return "smalltalk"
    in_domain = bool(tasks or facts) or _in_domain(prep, lex)
    if not in_domain and lex.out_of_scope_soft.search(prep.folded):
        return "out_of_scope"
    generic = bool(lex.generic.search(prep.folded))
    if (
        _asks_costs(prep, lex)
        and (has_profile or facts)
        and (_speaks_about_self(prep, lex) or _is_follow_up(prep, lex))
        and not generic
    ):
        return "recommend"  # "Was würde uns das kosten?": the cost comparison for this company
    if (
        lex.recommend.search(prep.folded)
        and (has_profile or _speaks_about_self(prep, lex))
        and not generic
    ):
        return "recommend"
    if facts and (expecting is not None or not _is_question(prep, lex)):
        return "recommend"  # a profile statement or an answer to the advisor's question
    if facts and lex.all_tasks.search(prep.folded) and not generic:
        return "recommend"  # own facts and "Welche Aufgaben sollten wir abgeben?"
    if has_profile and tasks and _is_follow_up(prep, lex):
        return "recommend"
    return "fact"


def classify_intent(message: str, *, has_profile: bool, expecting: str | None = None) -> Intent:
    """What the user wants.

    * ``out_of_scope``: prompt injection, requests for jokes/poems, and unrelated topics
      (time, weather, cooking, sports, politics, coding help...) without IT-outsourcing
      vocabulary, tasks or facts.
    * ``smalltalk``: a message made only of greetings, thanks, "who are you"-style phrases.
    * ``recommend``: a decision question for the user's own company ("Was sollten wir
      auslagern?", "Should we outsource our backup?", "intern oder extern?" once a profile is
      known), a profile statement ("Wir haben 45 PCs..."), an answer to ``expecting``, or a
      short follow-up about a task when ``has_profile`` ("Und das Backup?").
    * ``fact``: everything else; the retriever decides whether the documents answer it.
    """
    _check_expecting(expecting)
    prep, lex = _prepare(message), load_lexicon()
    return _classify(
        prep,
        lex,
        has_profile=has_profile,
        tasks=_tasks(prep, lex),
        facts=_facts(prep, lex, expecting),
        expecting=expecting,
    )


# --- All at once ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Understanding:
    """What one message says. ``tasks`` and ``facts`` are empty when ``intent`` is
    ``out_of_scope`` (including every injection), so such a message never changes a profile."""

    language: Language
    intent: Intent
    tasks: list[str]
    facts: dict[str, object]
    injection: bool
    # a recommendation that asks what it costs (or states a price): show the cost comparison
    costs: bool = False
    # False when nothing in the message tells the language ("45", "OK"): keep the session's
    language_sure: bool = True
    # for small talk: "greeting", "thanks" or "farewell"
    smalltalk: SmalltalkKind | None = None
    # an outage happening now ("Unser Server ist abgestürzt"): the advisor points to support
    urgent: bool = False
    # the tasks a recommendation should be limited to ("Sollten wir das Backup auslagern?");
    # empty: all tasks (also when a task is only mentioned in passing)
    focus: list[str] = field(default_factory=list)


def understand(message: str, *, has_profile: bool, expecting: str | None = None) -> Understanding:
    """Language, intent, tasks and facts of ``message`` (see the functions above).

    ``has_profile``: the session already knows facts about the company (makes "Und das
    Backup?" a recommendation). ``expecting``: the profile field the advisor just asked for.
    """
    _check_expecting(expecting)
    prep, lex = _prepare(message), load_lexicon()
    if _is_injection(prep, lex):
        return Understanding(
            language=prep.language,
            language_sure=prep.language_sure,
            intent="out_of_scope",
            tasks=[],
            facts={},
            injection=True,
        )
    tasks = _tasks(prep, lex)
    facts = _facts(prep, lex, expecting)
    intent = _classify(
        prep, lex, has_profile=has_profile, tasks=tasks, facts=facts, expecting=expecting
    )
    if intent == "out_of_scope":
        return Understanding(
            language=prep.language,
            language_sure=prep.language_sure,
            intent=intent,
            tasks=[],
            facts={},
            injection=False,
            urgent=bool(lex.urgent.search(prep.folded)),
        )
    costs = intent == "recommend" and (
        _asks_costs(prep, lex) or any(name in facts for name in PRICE_FIELDS)
    )
    kind: SmalltalkKind | None = None
    if intent == "smalltalk":
        if lex.farewell.search(prep.folded):
            kind = "farewell"
        elif lex.thanks.search(prep.folded):
            kind = "thanks"
        else:
            kind = "greeting"
    focus: list[str] = []
    if intent == "recommend" and tasks:
        follow_up = _is_follow_up(prep, lex)
        asks_all = bool(lex.all_tasks.search(prep.folded)) and not follow_up
        # a statement of facts ("Wir brauchen 24/7-Support.") gets the whole picture
        describes = bool(facts) and not _is_question(prep, lex)
        if follow_up or not (asks_all or describes):
            focus = list(tasks)
    return Understanding(
        language=prep.language,
        language_sure=prep.language_sure,
        intent=intent,
        tasks=tasks,
        facts=facts,
        injection=False,
        costs=costs,
        smalltalk=kind,
        focus=focus,
    )
