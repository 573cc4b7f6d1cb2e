"""YAML data files, parsed by libyaml when PyYAML has it.

The curated answers, the router examples and the sentence table are tens of thousands of
lines: the pure-Python parser took seconds on every start (and in every test that starts
the app); libyaml's safe loader builds the same plain data in a fraction of that.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["safe_load"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """:func:`yaml.safe_load`, with libyaml when available (same errors: ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_LOADER)
