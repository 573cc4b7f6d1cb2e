"""Split the helpers' eval files into a tuning set and sealed batches (run once, 2026-11-29).

    python tests/eval/make_batches.py /tmp/evalgen/out tests/eval

Deterministic: within each helper file and expected outcome, cases are ordered by the SHA-256
of their id and dealt out by the shares below; conversations likewise per helper file. It
prints counts only, so whoever runs it does not read the sealed questions.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

# share of single-turn cases / conversations per batch
CASE_SHARES = {"tuning": 0.40, "sealed-1": 0.25, "sealed-2": 0.35, "sealed-3": 0.0}
CONV_SHARES = {"tuning": 0.29, "sealed-1": 0.18, "sealed-2": 0.15, "sealed-3": 0.38}


def _order(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda c: hashlib.sha256(c["id"].encode()).hexdigest())


def _deal(items: list[dict], shares: dict[str, float]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {name: [] for name in shares}
    total = len(items)
    bounds, acc = [], 0.0
    for name, share in shares.items():
        acc += share
        bounds.append((name, round(acc * total)))
    for i, item in enumerate(_order(items)):
        name = next(n for n, b in bounds if i < b)
        out[name].append(item)
    return out


def main(source: Path, target: Path) -> None:
    batches: dict[str, dict[str, list[dict]]] = {
        name: {"cases": [], "conversations": []} for name in CASE_SHARES
    }
    for path in sorted(source.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cases = data.get("cases") or []
        for outcome in ("answer", "uncovered", "policy", "decline"):
            group = [c for c in cases if c["outcome"] == outcome]
            for name, dealt in _deal(group, CASE_SHARES).items():
                batches[name]["cases"] += dealt
        for name, dealt in _deal(data.get("conversations") or [], CONV_SHARES).items():
            batches[name]["conversations"] += dealt
    for name, content in batches.items():
        folder = target / (
            "tuning" if name == "tuning" else f"sealed/{name.removeprefix('sealed-')}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        for kind in ("cases", "conversations"):
            items = sorted(content[kind], key=lambda c: c["id"])
            if not items:
                continue
            text = yaml.safe_dump({kind: items}, allow_unicode=True, sort_keys=False, width=100)
            (folder / f"{kind}.yaml").write_text(text, encoding="utf-8")
            print(f"{folder}/{kind}.yaml: {len(items)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
