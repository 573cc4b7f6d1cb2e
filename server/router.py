"""Router: what kind of answer a message needs, learned from labelled examples.

``knowledge/router/examples.yaml`` holds visitor messages with their label (question,
company, costs, followup, provider, legal, guarantee, about, contact, smalltalk, offtopic,
support, attack), written by helpers who saw no eval file. A linear classifier (logistic
regression, fixed seed) reads character and word n-grams of the folded text and the message's
sentence embedding, the same vector the curated matcher and passage retrieval use. The fitted
model is cached under the data folder by the content hash of the examples, the embedding model
and this module's feature version, so a server or test run trains it once.

Rules stay an override: prompt injections (``server.understand``) are attacks whatever the
classifier says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.lexical import fold_umlauts
from ingest.yamlfile import safe_load
from server.cache import cached_object

__all__ = [
    "LABELS",
    "Label",
    "Route",
    "Router",
    "RouterError",
    "RouterExample",
    "cross_validate",
    "load_examples",
]

Label = Literal[
    "question",
    "company",
    "costs",
    "followup",
    "provider",
    "legal",
    "guarantee",
    "about",
    "contact",
    "smalltalk",
    "offtopic",
    "support",
    "attack",
]
LABELS: tuple[str, ...] = get_args(Label)
# Bump when the features change: a cached model of another version is retrained.
FEATURE_VERSION = "1"
SEED = 0
EMBEDDING_WEIGHT = 1.0

Embed = Callable[[Sequence[str]], np.ndarray]


class RouterError(Exception):
    """The examples file cannot be used; the message names the example at fault."""


class RouterExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = Field(min_length=1)
    label: Label
    lang: Literal["de", "en"]


class _ExamplesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: list[RouterExample] = Field(min_length=len(LABELS))


def load_examples(path: Path) -> list[RouterExample]:
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RouterError(f"{path}: cannot read the router examples: {exc}") from exc
    try:
        examples = _ExamplesFile.model_validate(data).examples
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RouterError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    missing = set(LABELS) - {e.label for e in examples}
    if missing:
        raise RouterError(f"{path}: no example for label(s) {sorted(missing)}")
    return examples


def _fold(text: str) -> str:
    return fold_umlauts(text.lower())


@dataclass(frozen=True)
class Route:
    """The classifier's reading of one message, with what it weighed."""

    label: Label
    confidence: float
    ranked: tuple[tuple[str, float], ...]  # the three most likely labels with probabilities
    override: str | None = None  # a rule that decided instead of the classifier

    def probability(self, label: str) -> float:
        return dict(self.ranked).get(label, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 3),
            "ranked": [[label, round(p, 3)] for label, p in self.ranked],
            "override": self.override,
        }


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, preprocessor=_fold
    )
    word_pattern = r"(?u)\b\w+\b"
    words = TfidfVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        sublinear_tf=True,
        preprocessor=_fold,
        token_pattern=word_pattern,
    )
    return chars, words


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=20.0, max_iter=3000, random_state=SEED)


def _stack(chars: Any, words: Any, texts: Sequence[str], vectors: np.ndarray) -> Any:
    from scipy.sparse import csr_matrix, hstack

    return hstack(
        [chars.transform(texts), words.transform(texts), csr_matrix(vectors * EMBEDDING_WEIGHT)]
    ).tocsr()


class Router:
    """A fitted classifier; :meth:`classify` needs the message and its embedding."""

    def __init__(self, chars: Any, words: Any, classifier: Any) -> None:
        self._chars = chars
        self._words = words
        self._classifier = classifier

    @classmethod
    def train(cls, examples: Sequence[RouterExample], vectors: np.ndarray) -> Router:
        chars, words = _vectorizers()
        texts = [e.text for e in examples]
        chars.fit(texts)
        words.fit(texts)
        classifier = _classifier()
        classifier.fit(_stack(chars, words, texts, vectors), [e.label for e in examples])
        return cls(chars, words, classifier)

    @classmethod
    def load_or_train(
        cls, examples_path: Path, cache_dir: Path, model_name: str, embed: Embed
    ) -> Router:
        """The cached model for these examples and this embedding model, or a fresh one."""
        import sklearn

        raw = examples_path.read_bytes()
        key = hashlib.sha256(
            b"|".join(
                [raw, model_name.encode(), FEATURE_VERSION.encode(), sklearn.__version__.encode()]
            )
        ).hexdigest()[:16]

        def build() -> Router:
            examples = load_examples(examples_path)
            return cls.train(examples, embed([e.text for e in examples]))

        return cached_object(cache_dir / f"router-{key}.pkl", Router, build)

    def classify(self, text: str, vector: np.ndarray) -> Route:
        features = _stack(self._chars, self._words, [text], vector.reshape(1, -1))
        probabilities = self._classifier.predict_proba(features)[0]
        order = np.argsort(-probabilities)
        classes = self._classifier.classes_
        ranked = tuple((str(classes[i]), float(probabilities[i])) for i in order[:3])
        return Route(label=ranked[0][0], confidence=ranked[0][1], ranked=ranked)  # type: ignore[arg-type]


def cross_validate(
    examples: Sequence[RouterExample], vectors: np.ndarray, folds: int = 5
) -> dict[str, Any]:
    """Stratified k-fold predictions: accuracy, per-label recall and the confusion matrix."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([e.label for e in examples])
    predicted = np.empty(len(examples), dtype=object)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    for train, test in splitter.split(np.zeros(len(labels)), labels):
        router = Router.train([examples[i] for i in train], vectors[train])
        texts = [examples[i].text for i in test]
        features = _stack(router._chars, router._words, texts, vectors[test])
        predicted[test] = router._classifier.predict(features)
    order = list(LABELS)
    matrix = confusion_matrix(labels, predicted.astype(str), labels=order)
    return {
        "examples": len(examples),
        "folds": folds,
        "accuracy": round(float((predicted == labels).mean()), 4),
        "labels": order,
        "confusion": matrix.tolist(),
        "recall": {
            label: round(float(matrix[i, i] / max(1, matrix[i].sum())), 3)
            for i, label in enumerate(order)
        },
    }
