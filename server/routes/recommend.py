"""POST /api/recommend: a company profile in, the cited recommendation per IT task out."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import RulesDep
from server.profile import Profile
from server.scoring import Recommendation, recommend

router = APIRouter(tags=["recommend"])


@router.post("/api/recommend", response_model=Recommendation)
def post_recommend(profile: Profile, rules: RulesDep) -> Recommendation:
    # An impossible profile never gets here: FastAPI answers 422 with pydantic's message,
    # whose `loc` names the field.
    return recommend(profile, rules)
