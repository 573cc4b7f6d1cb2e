"""/api/staff/*: the staff playground's API. Every call needs ``Authorization: Bearer
<ADVISOR_STAFF_TOKEN>`` (compared in constant time); without a token configured it is off."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from server import staff
from server.chat import ChatError, UnknownSessionError
from server.deps import ChatbotDep, SettingsDep
from server.openapi import errors
from server.sessions import SESSION_ID_PATTERN
from server.settings import Settings


def require_staff(request: Request, settings: SettingsDep) -> None:
    if settings.staff_token is None:
        raise HTTPException(status_code=404, detail="the staff playground is off")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.staff_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            status_code=401,
            detail="a valid staff token is needed (Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(
    prefix="/api/staff",
    tags=["staff"],
    dependencies=[Depends(require_staff)],
    responses=errors(
        401, 404, why={401: "no valid staff token", 404: "the playground is off, or not found"}
    ),
)
EntryId = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(_Body):
    message: str = Field(min_length=1, max_length=10_000)
    session_id: str | None = Field(None, pattern=SESSION_ID_PATTERN)
    curated: bool = True


class FeedbackRequest(_Body):
    message: str = Field(min_length=1, max_length=10_000)
    answer: str = Field(max_length=50_000)
    rating: Literal["up", "down"]
    reason: str = Field("", max_length=2_000)
    session_id: str | None = Field(None, max_length=64)
    module: str | None = Field(None, max_length=40)
    author: str = Field(min_length=1, max_length=80)


class EvalRequest(_Body):
    name: str = Field(min_length=1, max_length=120)


class EntryRequest(_Body):
    entry: dict[str, Any]
    author: str = Field(min_length=1, max_length=80)


class PromoteRequest(_Body):
    kind: Literal["eval", "answer"]
    message: str = Field(min_length=1, max_length=2_000)
    entry: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")
    author: str = Field(min_length=1, max_length=80)


@router.post("/ask")
def ask(request: AskRequest, bot: ChatbotDep) -> dict[str, Any]:
    try:
        return staff.ask(bot, request.message, request.session_id, request.curated)
    except ChatError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except UnknownSessionError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@router.post("/feedback")
def add_feedback(request: FeedbackRequest, bot: ChatbotDep) -> dict[str, int]:
    return {"id": bot.sessions.add_feedback(request.model_dump())}


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"  # so the schema documents what is sent


class YamlResponse(PlainTextResponse):
    media_type = "application/yaml"


@router.get("/feedback.csv", response_class=CsvResponse)
def feedback_csv(bot: ChatbotDep) -> PlainTextResponse:
    return CsvResponse(
        staff.feedback_csv(bot.sessions),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="feedback.csv"'},
    )


@router.get("/evals")
def list_evals() -> dict[str, Any]:
    from server.evaluation import load_eval_set

    sets = []
    for name, path in staff.eval_sets().items():
        eval_set = load_eval_set(path)
        sets.append(
            {
                "name": name,
                "cases": len(eval_set.all_cases()),
                "conversations": len(eval_set.conversations),
            }
        )
    return {"sets": sets}


@router.post("/evals/run")
def run_eval(request: EvalRequest, bot: ChatbotDep, settings: SettingsDep) -> dict[str, Any]:
    if request.name not in staff.eval_sets():
        raise HTTPException(status_code=404, detail=f"unknown eval set {request.name!r}")
    return staff.run_eval(bot, request.name, _history(settings))


def _history(settings: Settings) -> Any:
    return settings.data_dir / "staff-eval-runs.json"


@router.get("/answers")
def list_answers(bot: ChatbotDep) -> dict[str, Any]:
    return staff.list_answers(bot)


@router.get(
    "/answers.yaml",
    response_class=YamlResponse,
    responses={
        200: {
            "description": "the curated answers as YAML, ready to be a file in knowledge/answers",
            "content": {
                "application/yaml": {
                    "schema": {
                        "type": "object",
                        "required": ["answers"],
                        "properties": {"answers": {"type": "array", "items": {"type": "object"}}},
                    }
                }
            },
        }
    },
)
def export_answers(bot: ChatbotDep) -> PlainTextResponse:
    return YamlResponse(
        staff.export_answers(bot),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="answers.yaml"'},
    )


@router.get("/documents")
def documents(bot: ChatbotDep) -> dict[str, Any]:
    return {"documents": [{"doc_id": k, "title": v} for k, v in bot.titles.items()]}


@router.put("/answers/{entry_id}", response_model=None)
def save_answer(entry_id: EntryId, request: EntryRequest, bot: ChatbotDep) -> Any:
    try:
        entry = staff.save_entry(bot, entry_id, request.entry, request.author)
    except staff.EntryInvalid as exc:
        return JSONResponse(
            status_code=422,
            content={"detail": f"curated answer {entry_id!r} refused: {exc}", "errors": exc.errors},
        )
    return {"entry": entry.model_dump()}


@router.get("/conversations")
def conversations(bot: ChatbotDep) -> dict[str, Any]:
    return {"conversations": bot.sessions.recent()}


@router.get("/conversations/{session_id}")
def conversation(
    session_id: Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)], bot: ChatbotDep
) -> dict[str, Any]:
    state = bot.sessions.get(session_id)
    if state is None:
        raise HTTPException(status_code=404, detail=f"unknown session id {session_id}")
    return {
        "id": session_id,
        "profile": state.profile,
        "messages": bot.sessions.transcript(session_id),
    }


@router.post("/promote")
def promote(request: PromoteRequest, bot: ChatbotDep) -> dict[str, Any]:
    if request.kind == "answer" and not request.entry:
        raise HTTPException(status_code=422, detail="entry: which curated answer to add it to")
    try:
        detail = staff.promote(bot, request.kind, request.message, request.entry, request.author)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
    except staff.EntryInvalid as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return {"ok": True, "detail": detail}
