"""HTTP routes of the national library under /library: search with facets, recurrence, and
exports of the library and of an area's action plan as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from dhr_platform.http import Problem
from dhr_platform.service import ServiceRuntime
from dhr_recommendations import library, policy

Theme = Literal[library.THEMES]  # type: ignore[valid-type]
Level = Literal[library.LEVELS]  # type: ignore[valid-type]
AddresseeType = Literal[library.ADDRESSEE_TYPES]  # type: ignore[valid-type]
Status = Literal[library.STATUSES]  # type: ignore[valid-type]
ExportFormat = Literal["csv", "json"]

TextQuery = Annotated[str | None, Query(
    max_length=500, description="Free text in web-search syntax: words, \"a phrase\", or, -not.")]
# Each filter names at most a few dozen values: more is no search anyone makes.
Themes = Annotated[list[Theme] | None, Query(alias="theme", max_length=50,
                                             description="Any of these themes.")]
AddresseeTypes = Annotated[list[AddresseeType] | None, Query(
    alias="addressee_type", max_length=50, description="Any of these addressee types.")]
Levels = Annotated[list[Level] | None, Query(alias="level", max_length=10)]
Statuses = Annotated[list[Status] | None, Query(
    alias="status", max_length=50, description="open or closed (the recommendation), or an implementation "
    "status of an addressee (verified where verified, else claimed). With addressee_type, both "
    "hold for the same addressee.")]
Areas = Annotated[list[Annotated[str, Query(max_length=200)]] | None, Query(
    alias="area", max_length=50, description="CSP area, any case.")]
IssuedFrom = Annotated[date | None, Query(alias="from", description="Issued on or after.")]
IssuedTo = Annotated[date | None, Query(alias="to", description="Issued on or before.")]

_ROWS_PER_CHUNK = 200


def build_library_router(
    runtime: ServiceRuntime, clock: Callable[[], datetime], index: library.LibraryIndex, *,
    similarity_threshold: float = library.DEFAULT_SIMILARITY_THRESHOLD,
) -> APIRouter:
    """The library's routes; the pool is looked up per request (routes exist before it does).
    `index` is the one recurrence links use, and `similarity_threshold` /library/similar's
    default, the one recurrence links use.

    The library is shared national learning: every route is open to each person's role
    (policy.SEARCH_LIBRARY), not to machine clients or operators."""
    router = APIRouter(prefix="/library", tags=["library"],
                       dependencies=[policy.PERMISSIONS.requires(policy.SEARCH_LIBRARY)])

    def pool() -> asyncpg.Pool:
        return runtime.pool

    def criteria(text: str | None, theme: list[str] | None, addressee_type: list[str] | None,
                 level: list[str] | None, status: list[str] | None, area: list[str] | None,
                 from_: date | None, to: date | None) -> library.LibraryFilter:
        if from_ is not None and to is not None and to < from_:
            raise Problem(422, f"to ({to}) is before from ({from_}).", title="Invalid request",
                          field="to")
        return library.LibraryFilter(
            text=text.strip() if text and text.strip() else None, themes=theme or (),
            addressee_types=addressee_type or (), levels=level or (), statuses=status or (),
            areas=[a.strip() for a in area or () if a.strip()], issued_from=from_, issued_to=to)

    @router.get("/search", summary="Recommendations of every review by free text, theme, "
                "addressee type, level, status, area and date of issue, with facet counts")
    async def search(
        q: TextQuery = None, theme: Themes = None, addressee_type: AddresseeTypes = None,
        level: Levels = None, status: Statuses = None, area: Areas = None,
        from_: IssuedFrom = None, to: IssuedTo = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> dict[str, Any]:
        chosen = criteria(q, theme, addressee_type, level, status, area, from_, to)
        return await library.search(pool(), chosen, limit=limit, offset=offset)

    @router.get("/similar", summary="Recommendations that resemble a draft text, most similar "
                "first (what it would be linked to if recorded)")
    async def similar_to_text(
        text: Annotated[str, Query(min_length=1, max_length=5000)],
        theme: Themes = None, addressee_type: AddresseeTypes = None,
        threshold: Annotated[float | None, Query(
            gt=0, le=1, description="Trigram similarity from which a text counts as alike; "
            "by default the service's recurrence threshold.")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = library.DEFAULT_MAX_LINKS,
    ) -> dict[str, Any]:
        if threshold is None:
            threshold = similarity_threshold
        async with pool().acquire() as connection:
            rows = await index.find_similar(connection, text, threshold=threshold, limit=limit,
                                            themes=theme or (),
                                            addressee_types=addressee_type or ())
        return {"threshold": threshold,
                "items": [{key: library.json_ready(value) for key, value in row.items()}
                          for row in rows]}

    @router.get("/recommendations/{recommendation_id}/similar",
                summary="Recommendations of other reviews linked to this one as recurrences")
    async def similar(recommendation_id: UUID) -> dict[str, Any]:
        items = await library.similar_to(pool(), recommendation_id)
        if items is None:
            raise _not_found(recommendation_id)
        return {"recommendation_id": str(recommendation_id), "items": items}

    @router.get("/recommendations/{recommendation_id}/unimplemented-precedents",
                summary="Earlier recommendations like this one, to the same type of addressee, "
                "that were never implemented")
    async def precedents(recommendation_id: UUID) -> dict[str, Any]:
        items = await library.unimplemented_precedents(pool(), recommendation_id)
        if items is None:
            raise _not_found(recommendation_id)
        return {"recommendation_id": str(recommendation_id),
                "unimplemented_statuses": list(library.UNIMPLEMENTED_STATUSES), "items": items}

    @router.get("/recurrence", summary="How often a theme recurs, nationally and per CSP area")
    async def recurrence(
        theme: Annotated[Theme | None, Query()] = None,
        area: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        themes = await library.recurrence_by_area(pool(), theme=theme, area=area)
        return {"theme": theme, "area": area, "themes": themes}

    @router.get("/export", summary="The library (or what matches the filters) as CSV or JSON",
                response_class=StreamingResponse)
    async def export(
        format: Annotated[ExportFormat, Query(description="csv: one row per addressee; json: "
                                              "one item per recommendation.")] = "json",
        q: TextQuery = None, theme: Themes = None, addressee_type: AddresseeTypes = None,
        level: Levels = None, status: Statuses = None, area: Areas = None,
        from_: IssuedFrom = None, to: IssuedTo = None,
    ) -> StreamingResponse:
        chosen = criteria(q, theme, addressee_type, level, status, area, from_, to)
        today = clock().date()
        header = {"generated_on": today.isoformat(), "filters": _filters_of(chosen)}
        return _stream(format, library.export_rows(pool(), chosen), header,
                       f"dhr-library-{today.isoformat()}")

    @router.get("/action-plans/{area}", summary="One CSP area's recommendations and each "
                "addressee's action and status, as CSV or JSON", response_class=StreamingResponse)
    async def action_plan(area: Annotated[str, Path(min_length=1, max_length=200)],
                          format: ExportFormat = "json") -> StreamingResponse:
        area = area.strip()
        exists = await pool().fetchval(
            "SELECT EXISTS (SELECT 1 FROM recommendations WHERE lower(csp_area) = lower($1))",
            area)
        if not exists:
            raise Problem(404, "No recommendations are recorded for this area.",
                          title="Area not found", field="area")
        today = clock().date()
        chosen = library.LibraryFilter(areas=[area])
        header = {"area": area, "generated_on": today.isoformat()}
        return _stream(format, library.export_rows(pool(), chosen), header,
                       f"dhr-action-plan-{_slug(area)}-{today.isoformat()}")

    return router


def _not_found(recommendation_id: UUID) -> Problem:
    return Problem(404, f"No recommendation {recommendation_id} in the library.",
                   title="Recommendation not found", field="recommendation_id")


def _filters_of(criteria: library.LibraryFilter) -> dict[str, Any]:
    return {"q": criteria.text, "theme": list(criteria.themes),
            "addressee_type": list(criteria.addressee_types), "level": list(criteria.levels),
            "status": list(criteria.statuses), "area": list(criteria.areas),
            "from": library.json_ready(criteria.issued_from),
            "to": library.json_ready(criteria.issued_to)}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "area"


def _stream(format: str, rows: AsyncIterator[dict[str, Any]], header: dict[str, Any],
            filename: str) -> StreamingResponse:
    body = _csv_chunks(rows) if format == "csv" else _json_chunks(rows, header)
    media_type = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return StreamingResponse(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}.{format}"'})


async def _csv_chunks(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """RFC 4180 CSV (CRLF, fields with commas, quotes or line breaks quoted, quotes doubled),
    one row per addressee, in chunks of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(library.EXPORT_COLUMNS)
    written = 0
    async for recommendation in rows:
        writer.writerows(library.flat_rows(recommendation))
        written += 1
        if written % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _json_chunks(rows: AsyncIterator[dict[str, Any]],
                       header: dict[str, Any]) -> AsyncIterator[str]:
    """One JSON object, the header's fields then `items`, written as the rows arrive."""
    opening = json.dumps(header)[:-1]
    yield f'{opening}, "items": ['
    separator = "\n"
    chunk: list[str] = []
    async for recommendation in rows:
        chunk.append(separator + json.dumps(recommendation))
        separator = ",\n"
        if len(chunk) == _ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk) + "\n]}\n"
