"""POST /api/recommend: a company profile in, the cited recommendation per IT task out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from server.profile import Profile
from server.scoring import Recommendation, Rules, recommend

router = APIRouter(tags=["recommend"])


def get_rules(request: Request) -> Rules:
    """The rules loaded at start-up (``app.state.rules``, set in the app's lifespan)."""
    rules = getattr(request.app.state, "rules", None)
    if not isinstance(rules, Rules):
        raise HTTPException(status_code=503, detail="scoring rules are not loaded")
    return rules


RulesDep = Annotated[Rules, Depends(get_rules)]


@router.post("/api/recommend", response_model=Recommendation)
def post_recommend(profile: Profile, rules: RulesDep) -> Recommendation:
    # An impossible profile never gets here: FastAPI answers 422 with pydantic's message,
    # whose `loc` names the field.
    return recommend(profile, rules)
