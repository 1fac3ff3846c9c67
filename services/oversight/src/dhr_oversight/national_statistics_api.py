"""HTTP route of the national statistics: `GET /statistics/national?format=json|csv`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from dhr_oversight import policy
from dhr_oversight.national_statistics import NationalStatistics, national_statistics

LoadEvents = Callable[[], Awaitable[Iterable[Mapping[str, Any]]]]


def build_national_statistics_router(load_events: LoadEvents) -> APIRouter:
    """The route, computing the statistics from the events `load_events` gives (e.g. the
    ledger's) at each request."""
    router = APIRouter(prefix="/statistics", tags=["statistics"])

    @router.get("/national", summary="National statistics of historic reviews, as JSON or CSV",
                response_model=NationalStatistics,
                responses={200: {"content": {"text/csv": {}}}},
                dependencies=[policy.PERMISSIONS.requires(policy.READ_NATIONAL_STATISTICS)])
    async def national(
        format: Annotated[Literal["json", "csv"],
                          Query(description="json (default) or csv")] = "json",
    ) -> Response:
        statistics = national_statistics(await load_events())
        if format == "csv":
            return Response(statistics.to_csv(), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition":
                                     'attachment; filename="national-statistics.csv"'})
        return JSONResponse(statistics.model_dump(mode="json"))

    return router
