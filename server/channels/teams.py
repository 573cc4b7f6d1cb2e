"""Microsoft Teams outgoing webhook: verify the HMAC, read the activity, answer in the Markdown
subset Teams renders (or an Adaptive Card), within Teams' five seconds.

Teams signs the raw request body: ``Authorization: HMAC <base64>`` with
base64(HMAC-SHA256(base64-decoded security token, body)). The signature carries no timestamp,
so a repeated activity id is answered with the first reply and stores no second turn.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from server.compose import AnswerCitation

__all__ = [
    "Activity",
    "ActivityError",
    "SignatureError",
    "card_reply",
    "parse_activity",
    "text_reply",
    "verify",
]

MAX_ACTIVITY_BYTES = 64 * 1024
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}")


class SignatureError(Exception):
    """Missing, malformed or wrong signature: 401."""


class ActivityError(ValueError):
    """The body is not a usable Teams message activity: 400, naming the problem."""


def verify(secret: str, header: str | None, body: bytes) -> None:
    """Check ``Authorization: HMAC <base64>`` against the body, in constant time."""
    if not header:
        raise SignatureError("missing Authorization header")
    scheme, _, signature = header.partition(" ")
    if scheme != "HMAC" or not signature.strip():
        raise SignatureError("Authorization must be 'HMAC <base64 signature>'")
    try:
        key = base64.b64decode(secret, validate=True)
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is not valid base64") from None
    expected = hmac.new(key, body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise SignatureError("the signature does not match the body")


@dataclass(frozen=True)
class Activity:
    id: str
    conversation_id: str
    text: str  # the question, mention removed


def parse_activity(body: bytes, max_chars: int) -> Activity:
    if len(body) > MAX_ACTIVITY_BYTES:
        raise ActivityError(f"activity too large (at most {MAX_ACTIVITY_BYTES} bytes)")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ActivityError(f"the body is not JSON: {exc}") from None
    except RecursionError:  # a signed body can still be hostile: never a 500
        raise ActivityError("the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ActivityError("the activity must be a JSON object")
    if data.get("type") != "message":
        raise ActivityError("only activities of type 'message' are answered")
    ident, text = data.get("id"), data.get("text")
    conversation = data.get("conversation")
    if not isinstance(ident, str) or not ident or len(ident) > 200:
        raise ActivityError("the activity needs an 'id' string")
    if not isinstance(text, str):
        raise ActivityError("the activity needs a 'text' string")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str):
        raise ActivityError("the activity needs a 'conversation' with an 'id'")
    question = html.unescape(_TAG.sub(" ", _MENTION.sub(" ", text)))
    question = " ".join(question.split())
    if not question:
        raise ActivityError("the message is empty once the @mention is removed")
    if len(question) > max_chars:
        raise ActivityError(f"the message is too long (at most {max_chars} characters)")
    return Activity(ident, str(conversation["id"])[:300], question)


def teams_markdown(answer: str) -> str:
    """The answer in the Markdown Teams renders: a table becomes a list, one item per row
    ("- **Backup:** Extern – reason [3]"), its header row dropped."""
    lines = answer.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("|"):
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if _TABLE_SEPARATOR.match(stripped) or _TABLE_SEPARATOR.match(following):
                continue  # the separator, or the header row above it
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if len(cells) >= 2:
                title = cells[0].replace("**", "")
                line = f"- **{title}:** " + " – ".join(c for c in cells[1:] if c)
            else:
                continue
        if (
            line.lstrip().startswith("- ")
            and out
            and out[-1].strip()
            and not out[-1].lstrip().startswith("- ")
        ):
            out.append("")  # Teams needs a blank line before a list
        out.append(line)
    return "\n".join(out)


def _sources(citations: list[AnswerCitation], english: bool) -> str:
    if not citations:
        return ""
    lines = ["**Sources:**" if english else "**Quellen:**"]
    for c in citations:
        quote = " ".join(c.quote.split())
        if len(quote) > 220:
            quote = quote[:217] + "…"
        lines.append(f"{c.n}. {c.title} › {c.heading}: „{quote}“")
    return "\n\n" + "\n\n".join(lines)


def text_reply(answer: str, citations: list[AnswerCitation], english: bool) -> dict[str, Any]:
    return {"type": "message", "text": teams_markdown(answer) + _sources(citations, english)}


def card_reply(
    answer: str, citations: list[AnswerCitation], english: bool, public_url: str
) -> dict[str, Any]:
    """An Adaptive Card with the answer and one ``Action.OpenUrl`` per source page."""
    base = public_url.rstrip("/")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": teams_markdown(answer), "wrap": True}
    ]
    if citations:
        body.append(
            {
                "type": "TextBlock",
                "text": _sources(citations, english).strip(),
                "wrap": True,
                "size": "Small",
                "isSubtle": True,
            }
        )
    actions = [
        {
            "type": "Action.OpenUrl",
            "title": f"[{c.n}] {c.title}"[:60],
            "url": f"{base}/sources/{c.doc_id}"
            + (f"?passage={c.passage_id}#passage" if c.passage_id else ""),
        }
        for c in citations[:5]
    ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "type": "AdaptiveCard",
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "version": "1.4",
                    "body": body,
                    "actions": actions,
                },
            }
        ],
    }
