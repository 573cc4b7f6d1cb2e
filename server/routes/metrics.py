"""GET /metrics: Prometheus metrics, for loopback clients or with the staff token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from server.deps import SettingsDep
from server.metrics import AdvisorMetrics, scrape_refusal

# An operator's endpoint, not part of the public API the OpenAPI document describes.
router = APIRouter(tags=["metrics"], include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request, settings: SettingsDep) -> Response:
    token = settings.staff_token.get_secret_value() if settings.staff_token else None
    client = request.client.host if request.client else None
    refusal = scrape_refusal(client, request.scope["headers"], token)
    if refusal is not None:
        status, detail = refusal
        raise HTTPException(status_code=status, detail=detail)
    observed: AdvisorMetrics = request.app.state.metrics
    body, content_type = observed.exposition(request.headers.get("accept"))
    return Response(content=body, media_type=None, headers={"content-type": content_type})
