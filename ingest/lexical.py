"""Lexical analysis for German: the tokenizer shared by the lexical index and its queries.

German needs more than white-space tokens: inflections (Mitarbeitern → mitarbeit),
compounds (Datensicherung = Daten + Sicherung, Backup-Strategie), umlaut spellings
(Prüfung / Pruefung) and the domain's synonyms. Index and query must analyse text the
same way, so both sides use this module.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

from ingest.split import Chunk
from ingest.yamlfile import safe_load

_WORD_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+(?:[-‐‑][^\W\d_]+)*", re.UNICODE)
# Question words carry no topic; dropping them keeps "Was ist ein Key-User?" about Key-User.
_EXTRA_STOPWORDS = {
    "ab",
    "gibt",
    "wer",
    "wann",
    "warum",
    "wieso",
    "weshalb",
    "welch",
    "bleibt",
    "sollten",
    "sollen",
    "unser",
    "unsere",
    "unseren",
    "unserem",
    "unserer",
    "eigentlich",
    "ja",
    "bzw",
    "z",
    "b",
    "ca",
    "ggf",
    "etc",
    "u",
    "a",
    "what",
    "which",
    "who",
    "why",
    "how",
    "when",
    "does",
    "do",
    "should",
    "our",
    "we",
    "us",
    "is",
    "are",
    "the",
    "an",
    "of",
    "to",
    "for",
    "in",
    "on",
    "and",
    "or",
    "can",
    "it",
    "its",
    "be",
    "with",
    "there",
    "much",
    "many",
    "by",
    "at",
    "from",
    # German question adverbs and fillers of everyday questions ("Worauf muss ich achten?")
    "schon",
    "bereits",
    "hinterher",
    "wieviel",
    "wieviele",
    "beachten",
    "worauf",
    "womit",
    "woran",
    "wofür",
    "wozu",
    "wodurch",
    "woraus",
    "wovon",
    "worüber",
    "wobei",
    "woher",
    "wohin",
    "bevor",
    "nachdem",
    "selber",
    "paar",
    "gerade",
    "ganz",
    "konkret",
    "überhaupt",
    "genau",
    "immer",
    "jemand",
    "heutzutage",
    "bitte",
    "mal",
    "eben",
    "halt",
    "irgendwie",
    "tun",
    "macht",
    "machen",
    # English function words and fillers: bm25s knows only 33 English stopwords, and an
    # English word that is no domain term can never match the German text anyway.
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "almost",
    "already",
    "always",
    "also",
    "although",
    "another",
    "any",
    "anything",
    "actually",
    "because",
    "become",
    "becomes",
    "been",
    "before",
    "being",
    "both",
    "but",
    "could",
    "did",
    "doing",
    "done",
    "each",
    "either",
    "else",
    "even",
    "ever",
    "every",
    "everything",
    "get",
    "gets",
    "getting",
    "give",
    "go",
    "going",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "here",
    "i",
    "if",
    "into",
    "just",
    "let",
    "like",
    "make",
    "makes",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "need",
    "needs",
    "now",
    "off",
    "one",
    "only",
    "other",
    "out",
    "over",
    "own",
    "please",
    "quite",
    "rather",
    "really",
    "same",
    "say",
    "says",
    "she",
    "so",
    "some",
    "something",
    "still",
    "such",
    "than",
    "that",
    "them",
    "then",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "through",
    "too",
    "up",
    "use",
    "used",
    "using",
    "very",
    "want",
    "wants",
    "was",
    "way",
    "were",
    "where",
    "whether",
    "while",
    "will",
    "would",
    "you",
    "your",
}
STOPWORDS = frozenset(STOPWORDS_GERMAN) | frozenset(STOPWORDS_EN) | _EXTRA_STOPWORDS
MIN_COMPOUND_PART = 4
MIN_SINGLE_PART = 5
SYNONYM_WEIGHT = 0.3
PART_WEIGHT = 0.7
TRANSLATION_WEIGHT = 0.8
TRUNCATE_AT = 6
TRUNC_WEIGHT = 0.3
TRUNC_MARK = "~"


_LIGATURES = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d"})


def fold_umlauts(word: str) -> str:
    """ä→a, ö→o, ü→u, ß→ss, accents dropped: "Prüfung" and "Pruefung" meet in the stemmer.

    A word of letters without an ASCII form (Greek, Cyrillic, "Æ" alone) stays as it is:
    an empty term would match nothing and confuse the index.
    """
    folded = unicodedata.normalize("NFKD", word.translate(_LIGATURES))
    ascii_form = folded.encode("ascii", "ignore").decode()
    return ascii_form or word


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("german")


def stem(word: str) -> str:
    return str(_stemmer().stemWord(fold_umlauts(word.lower())))


@lru_cache(maxsize=1)
def _stopword_stems() -> frozenset[str]:
    # Inflected stopwords ("vielen" beside the listed "viel") share the stopword's stem.
    return frozenset(stem(w) for w in STOPWORDS if len(w) >= 4)


def is_stopword(word: str) -> bool:
    return word in STOPWORDS or (not word[0].isdigit() and stem(word) in _stopword_stems())


def words(text: str) -> list[str]:
    """Lower-cased surface words; numbers lose their thousands separators (70.000 → 70000)."""
    out = []
    for match in _WORD_RE.finditer(text.lower()):
        token = match.group(0)
        if token[0].isdigit():
            token = token.replace(".", "").replace(",", "")
        out.append(token.replace("‐", "-").replace("‑", "-"))
    return out


def stems_of(texts: Iterable[str]) -> set[str]:
    """The stems of every word of ``texts`` (compounds' hyphenated parts each)."""
    known: set[str] = set()
    for source in texts:
        for w in words(source):
            for part in w.split("-"):
                if part:
                    known.add(stem(part))
    return known


@dataclass(frozen=True)
class Lexicon:
    """Synonym groups and an English→German glossary, from ``knowledge/lexicon.yaml``."""

    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    english: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # words that name the domain itself, not what a question in it is about
    domain: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        groups = data.get("synonyms") or []
        english = data.get("english") or {}
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            raise ValueError(f"{path}: 'synonyms' must be a list of lists")
        if not isinstance(english, dict):
            raise ValueError(f"{path}: 'english' must be a mapping")
        domain = data.get("domain") or []
        if not isinstance(domain, list) or not all(isinstance(w, str) for w in domain):
            raise ValueError(f"{path}: 'domain' must be a list of words")
        synonyms: dict[str, set[str]] = {}
        for group in groups:
            terms = [str(t).lower() for t in group]
            for term in terms:
                synonyms.setdefault(term, set()).update(t for t in terms if t != term)
        return cls(
            synonyms={k: tuple(sorted(v)) for k, v in synonyms.items()},
            english={
                str(k).lower(): tuple(str(t).lower() for t in (v or [])) for k, v in english.items()
            },
            domain=frozenset(w.lower() for w in domain),
        )


class Analyzer:
    """Turns text into weighted stems; knows the corpus nouns to split compounds."""

    def __init__(
        self,
        vocabulary: Iterable[str],
        lexicon: Lexicon | None = None,
        index_terms: Iterable[str] = (),
        singulars: Iterable[str] = (),
    ) -> None:
        # German nouns are capitalised; only nouns are compound parts (Daten|sicherung), so
        # prefixes like "unter" never split "Unternehmen".
        self.vocabulary = frozenset(
            fold_umlauts(w) for w in vocabulary if len(w) >= MIN_COMPOUND_PART
        )
        self.lexicon = lexicon or Lexicon()
        self.index_terms = frozenset(index_terms)
        # Words the corpus also uses without a final "s": Backups → Backup, SLAs → SLA.
        self.singulars = frozenset(singulars)

    def split_compound(self, word: str) -> list[str]:
        """Known noun parts of a closed compound: "datensicherung" → [daten, sicherung].

        One known part suffices when the rest is long enough to be a word of its own
        ("serverinstallation" → [server]).
        """
        w = fold_umlauts(word.lower())
        if len(w) < 2 * MIN_COMPOUND_PART or "-" in w:
            return []
        best: tuple[int, list[str]] | None = None
        for i in range(MIN_COMPOUND_PART, len(w) - MIN_COMPOUND_PART + 1):
            head, tail = w[:i], w[i:]
            for h in [head] + ([head[:-1]] if head.endswith("s") else []):  # Fugen-s
                parts = [p for p in (h, tail) if p in self.vocabulary]
                if not parts:
                    continue
                if len(parts) == 1 and min(len(h), len(tail)) < MIN_SINGLE_PART:
                    continue  # "Mitarbeit|ende": a short lone part is mostly noise
                score = sum(len(p) for p in parts) + (100 if len(parts) == 2 else 0)
                if best is None or score > best[0]:
                    best = (score, parts)
        return best[1] if best else []

    def _word_terms(self, word: str) -> list[tuple[str, float]]:
        """Stems of one word with weights; a compound's parts weigh less than the whole,
        unless the whole never occurs in the index (then the parts are all we have)."""
        # The German stemmer keeps the English plural -s of loan words (Backups, SLAs).
        if word.endswith("s") and word[:-1] in self.singulars:
            word = word[:-1]
        if "-" in word:
            parts = [p for p in word.split("-") if p and p not in STOPWORDS]
            whole = stem("".join(parts))
            part_terms = [stem(p) for p in parts]
        else:
            whole = stem(word)
            part_terms = [stem(p) for p in self.split_compound(word)]
        part_weight = PART_WEIGHT if (not self.index_terms or whole in self.index_terms) else 1.0
        terms = [(whole, 1.0)] + [(p, part_weight) for p in part_terms if p != whole]
        if len(whole) >= TRUNCATE_AT:
            # Prefix truncation meets forms the stemmer leaves apart (betreuen / betreuten).
            terms.append((TRUNC_MARK + whole[:TRUNCATE_AT], TRUNC_WEIGHT))
        return terms

    def document_tokens(self, text: str) -> list[str]:
        """Tokens of a passage for the index: stems plus the stems of compound parts."""
        tokens: list[str] = []
        for word in words(text):
            if is_stopword(word):
                continue
            tokens.extend(term for term, _ in self._word_terms(word))
        return tokens

    def query_terms(self, text: str) -> dict[str, float]:
        """Weighted stems of a question: its words, their synonyms, English glossary terms.

        Synonyms matter most when the user's word never occurs in the documents; when it
        does, they are only a hint, because every expansion also adds noise.
        """
        all_words = words(text)
        content = [w for w in all_words if not is_stopword(w)] or all_words
        weights: dict[str, float] = {}

        def add(word: str, weight: float) -> None:
            for term, w in self._word_terms(word):
                w *= weight
                if w > weights.get(term, 0.0):
                    weights[term] = w

        def expansion_weight(word: str) -> float:
            known = not self.index_terms or stem(word) in self.index_terms
            return SYNONYM_WEIGHT if known else 1.0

        lowered = " ".join(all_words)
        for phrase, alternatives in self.lexicon.synonyms.items():
            if " " in phrase and phrase in lowered:
                for alt in alternatives:
                    for w in words(alt):
                        add(w, SYNONYM_WEIGHT)
        for word in content:
            add(word, 1.0)
            weight = expansion_weight(word)
            for alt in self.lexicon.synonyms.get(word, ()):
                for w in words(alt):
                    if not is_stopword(w):
                        add(w, weight)
            for german in self.lexicon.english.get(word, ()):
                for w in words(german):
                    add(w, TRANSLATION_WEIGHT)
        return weights


_NOUN_RE = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-ZÄÖÜ][a-zäöüß]{3,}\b", re.MULTILINE)


def corpus_vocabulary(texts: Iterable[str]) -> list[str]:
    """Nouns of the corpus (capitalised words not at a sentence start), lower-cased."""
    return sorted({m.group(0).lower() for text in texts for m in _NOUN_RE.finditer(text)})


def corpus_singulars(texts: Iterable[str]) -> list[str]:
    """Corpus words of 3+ letters that also occur with an extra final "s"."""
    seen = {w for text in texts for w in words(text) if len(w) >= 3}
    return sorted(w for w in seen if w + "s" in seen or not w.endswith("s"))


# The indexes built from the same texts in this process. The German analysis of every
# curated entry and sentence took most of an app's start (about 2 s), and the tests start
# the app some two hundred times over the same data. An index is never changed once built,
# so one object serves every caller; a few are kept, so a live reload's new index replaces
# the old one instead of piling up.
_BUILT: OrderedDict[str, LexicalIndex] = OrderedDict()
_BUILT_KEEP = 4
_BUILT_LOCK = threading.Lock()


def _content_key(
    texts: list[str], ids: list[str], corpus: list[str], lexicon: Lexicon
) -> str:
    digest = hashlib.sha256()
    for part in (texts, ids, corpus):
        digest.update(("\x00".join(part) + "\x01").encode())
    digest.update(repr(lexicon).encode())
    return digest.hexdigest()


class LexicalIndex:
    """BM25 over German-analysed chunks (bm25s); persisted beside the vector store."""

    def __init__(self, analyzer: Analyzer, bm25: bm25s.BM25, chunk_ids: list[str]) -> None:
        self.analyzer = analyzer
        self.bm25 = bm25
        self.chunk_ids = chunk_ids
        self._vocab: dict[str, int] = dict(bm25.vocab_dict)
        analyzer.index_terms = frozenset(self._vocab)

    @classmethod
    def build(cls, chunks: list[Chunk], lexicon: Lexicon) -> LexicalIndex:
        texts = [c.search_text for c in chunks]
        return cls.from_texts(texts, [c.chunk_id for c in chunks], lexicon)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        ids: list[str],
        lexicon: Lexicon,
        vocabulary_texts: list[str] | None = None,
    ) -> LexicalIndex:
        """BM25 over ``texts`` (one document each, named by ``ids``); compounds are split by
        the nouns of ``vocabulary_texts`` (default: the texts themselves)."""
        corpus = vocabulary_texts if vocabulary_texts is not None else texts
        key = _content_key(texts, ids, corpus, lexicon)
        with _BUILT_LOCK:
            built = _BUILT.get(key)
            if built is not None:
                _BUILT.move_to_end(key)
                return built
        built = cls._build(texts, ids, corpus, lexicon)
        with _BUILT_LOCK:
            _BUILT[key] = built
            while len(_BUILT) > _BUILT_KEEP:
                _BUILT.popitem(last=False)
        return built

    @classmethod
    def _build(
        cls, texts: list[str], ids: list[str], corpus: list[str], lexicon: Lexicon
    ) -> LexicalIndex:
        analyzer = Analyzer(
            corpus_vocabulary(corpus), lexicon, singulars=corpus_singulars(corpus)
        )
        corpus_tokens = [analyzer.document_tokens(text) or ["_empty_"] for text in texts]
        bm25 = bm25s.BM25(k1=1.5, b=0.75)
        bm25.index(corpus_tokens, show_progress=False)
        return cls(analyzer, bm25, list(ids))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(directory), show_progress=False)
        meta = {
            "chunk_ids": self.chunk_ids,
            "vocabulary": sorted(self.analyzer.vocabulary),
            "singulars": sorted(self.analyzer.singulars),
        }
        (directory / "advisor_lexical.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, lexicon: Lexicon) -> LexicalIndex:
        meta = json.loads((directory / "advisor_lexical.json").read_text(encoding="utf-8"))
        bm25 = bm25s.BM25.load(str(directory), show_progress=False, verbosity=0)
        analyzer = Analyzer(meta["vocabulary"], lexicon, singulars=meta.get("singulars", ()))
        return cls(analyzer, bm25, list(meta["chunk_ids"]))

    def scores(self, query: str) -> tuple[np.ndarray, dict[str, float]]:
        """BM25 score per chunk (weighted sum over query terms) and the terms used."""
        # Only terms the BM25 matrix has rows for (its vocabulary may hold a reserved entry).
        known = len(self.bm25.scores["indptr"]) - 1
        terms = {
            t: w
            for t, w in self.analyzer.query_terms(query).items()
            if t and self._vocab.get(t, known) < known
        }
        total = np.zeros(len(self.chunk_ids), dtype=np.float32)
        for term, weight in terms.items():
            total += weight * self.bm25.get_scores([term])
        return total, terms
