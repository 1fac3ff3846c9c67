"""The national library: search, facets, recurrence and exports over every review's
recommendations, and the projection that links a new recommendation to earlier ones it resembles.

Reads the recommendations read model (migration 0001) and the library's own indexes and
`recurrence_links` (0002). Decisions a reader would otherwise get wrong:

- An addressee's status in the library is the CSP's verified implementation status where there is
  one, else the addressee's claim (`EFFECTIVE_STATUS_SQL`).
- Addressee filters (type, implementation status) hold for one and the same addressee: "police,
  not implemented" finds recommendations whose police addressee has not implemented them.
- Facets count recommendations under the whole current filter; a recommendation with two themes
  counts under both, and under each addressee type and implementation status it has.
- Recurrence: another review's recommendation whose text has a trigram similarity of at least the
  threshold (default 0.5) *and* that shares a theme or an addressee type with the new one. The
  shared theme or type keeps boilerplate ("The Community Safety Partnership should ensure ...")
  from linking unrelated recommendations. At most `max_links` (default 20) of the most similar are
  linked. "Earlier" orders by (issued_on, recommendation_id), so a report recorded late links
  the right way round and a replay writes the same rows.
- The similarity is pg_trgm's, but the candidates come from an in-memory index of every text's
  trigrams (`LibraryIndex`, similarity.py), since PostgreSQL's own trigram index passes
  thousands of candidates whose recheck costs ~70 us each; SQL then rechecks the few that pass.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from dhr_platform.database import Connection
from dhr_platform.eventstore import RecordedEvent
from dhr_recommendations.similarity import Entry, TrigramIndex

RECOMMENDATION_RECORDED = "dhr.recommendations.RecommendationRecorded.v1"

THEMES = ("technology_systems", "identification_of_risk", "training", "policy",
          "multi_agency_working", "record_keeping", "awareness_raising", "other")
LEVELS = ("local", "regional", "national")
ADDRESSEE_TYPES = ("police", "social_services", "health_services", "idva_or_domestic_abuse_service",
                   "probation", "housing", "school", "employer", "other_educational_institution",
                   "religious_institution", "military", "community_safety_partnership",
                   "government_department")
IMPLEMENTATION_STATUSES = ("not_started", "in_progress", "implemented",
                           "implemented_by_alternative_means", "partially_implemented",
                           "not_implemented", "superseded", "no_longer_applicable")
OPEN_CLOSED = ("open", "closed")
STATUSES = OPEN_CLOSED + IMPLEMENTATION_STATUSES
# Never implemented: neither done (in full or by other means) nor overtaken by events.
UNIMPLEMENTED_STATUSES = ("not_started", "in_progress", "partially_implemented", "not_implemented")

DEFAULT_SIMILARITY_THRESHOLD = 0.5
DEFAULT_MAX_LINKS = 20

EFFECTIVE_STATUS_SQL = "coalesce(a.implementation_verified, a.implementation_claimed)"
FACETS = ("theme", "addressee_type", "level", "status", "area")

# ts_headline marks matches with control characters, so the text can be HTML-escaped before
# the marks become <mark> elements: recommendation texts are never trusted as HTML.
_START, _STOP = "\x02", "\x03"
_HEADLINE_OPTIONS = f"StartSel={_START}, StopSel={_STOP}, MaxWords=35, MinWords=15, MaxFragments=2"

def _addressees_json(alias: str) -> str:
    """The addressees of recommendation `alias` as a JSON array, with their library status."""
    return f"""(SELECT coalesce(json_agg(json_build_object(
        'addressee_id', a.addressee_id, 'name', a.name, 'addressee_type', a.addressee_type,
        'response_status', a.response_status,
        'implementation_claimed', a.implementation_claimed,
        'implementation_verified', a.implementation_verified,
        'implementation_status', {EFFECTIVE_STATUS_SQL},
        'response_due_on', a.response_due_on, 'target_date', a.target_date, 'open', a.open)
        ORDER BY a.addressee_type, a.addressee_id), '[]'::json)
      FROM recommendation_addressees a WHERE a.recommendation_id = {alias}.recommendation_id)"""

_RECOMMENDATION_COLUMNS = """r.recommendation_id, r.review_id, r.number, r.csp_area, r.level,
    r.themes, r.tags, r.text, r.issued_on, r.smart_score, r.smart_flags, r.open"""


@dataclass(frozen=True)
class LibraryFilter:
    """What a library search or export is narrowed to; several values of one field mean any."""

    text: str | None = None
    themes: Sequence[str] = ()
    addressee_types: Sequence[str] = ()
    levels: Sequence[str] = ()
    statuses: Sequence[str] = ()
    areas: Sequence[str] = ()
    issued_from: date | None = None
    issued_to: date | None = None

    @property
    def has_text(self) -> bool:
        return bool(self.text and self.text.strip())

    def where(self, arguments: list[Any]) -> str:
        """SQL conditions on `recommendations r`, appending their parameters to `arguments`;
        with text, `$1` must already be the text (the caller's query reuses it for ranking)."""
        conditions = ["true"]

        def parameter(value: Any) -> str:
            arguments.append(value)
            return f"${len(arguments)}"

        if self.has_text:
            if arguments[:1] != [self.text]:
                raise ValueError("a text query must be the statement's first parameter")
            conditions.append("r.search_document @@ websearch_to_tsquery('english', $1)")
        if self.themes:
            conditions.append(f"r.themes && {parameter(list(self.themes))}::text[]")
        if self.levels:
            conditions.append(f"r.level = ANY({parameter(list(self.levels))}::text[])")
        if self.areas:
            areas = [area.lower() for area in self.areas]
            conditions.append(f"lower(r.csp_area) = ANY({parameter(areas)}::text[])")
        if self.issued_from is not None:
            conditions.append(f"r.issued_on >= {parameter(self.issued_from)}")
        if self.issued_to is not None:
            conditions.append(f"r.issued_on <= {parameter(self.issued_to)}")
        open_closed = {status for status in self.statuses if status in OPEN_CLOSED}
        if len(open_closed) == 1:
            conditions.append(f"r.open = {parameter('open' in open_closed)}")
        implementation = [status for status in self.statuses if status not in OPEN_CLOSED]
        if self.addressee_types and implementation:
            wanted = [f"{t}:{s}" for t in self.addressee_types for s in implementation]
        else:
            wanted = ([f"type:{t}" for t in self.addressee_types]
                      + [f"status:{s}" for s in implementation])
        if wanted:
            conditions.append(f"r.addressee_facets && {parameter(wanted)}::text[]")
        return " AND ".join(conditions)


def json_ready(value: Any) -> Any:
    """A value as JSON shows it: ids and dates as strings."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    return value


def _recommendation(row: asyncpg.Record) -> dict[str, Any]:
    return {key: json_ready(value) for key, value in row.items()}


def _snippet(headline: str | None) -> str | None:
    if headline is None:
        return None
    return html.escape(headline).replace(_START, "<mark>").replace(_STOP, "</mark>")


# --- search -----------------------------------------------------------------------------------


def addressee_facets(addressees: Iterable[tuple[str, str]]) -> list[str]:
    """A recommendation's `addressee_facets` (migration 0004) from its addressees' (type,
    effective status): each type, each status, and each type:status of one addressee."""
    return sorted({facet for addressee_type, status in addressees
                   for facet in (f"type:{addressee_type}", f"status:{status}",
                                 f"{addressee_type}:{status}")})



async def search(pool: asyncpg.Pool, criteria: LibraryFilter, *, limit: int = 20,
                 offset: int = 0) -> dict[str, Any]:
    """One page of matching recommendations (best rank first when searching text, else newest
    first), how many match in all, and the facet counts of everything that matches.

    The matches are found and ranked once: one statement counts the facets and picks the page's
    ids from them, and only the page's rows are then read in full (headline, addressees)."""
    # One snapshot, so the total, the facets and the page agree.
    async with pool.acquire() as connection, connection.transaction(
            isolation="repeatable_read", readonly=True):
        # The library's tables are small enough to sit in memory: a random page costs about
        # what a sequential one does. With the default cost (4) the planner scans all
        # recommendations to read a few thousand matches (p95 132 ms against 41 ms at 100k).
        await connection.execute("SET LOCAL random_page_cost = 1.1")
        facets, total, page = await _facets_and_page(connection, criteria, limit, offset)
        arguments: list[Any] = [[recommendation_id for recommendation_id, _ in page],
                                [rank for _, rank in page]]
        headline = "NULL"
        if criteria.has_text:
            arguments.append(criteria.text)
            headline = (f"ts_headline('english', r.text, websearch_to_tsquery('english', $3),"
                        f" '{_HEADLINE_OPTIONS}')")
        rows = await connection.fetch(
            f"""SELECT {_RECOMMENDATION_COLUMNS}, p.rank, {headline} AS headline,
                       {_addressees_json("r")} AS addressees
                  FROM unnest($1::uuid[], $2::real[]) WITH ORDINALITY
                       AS p(recommendation_id, rank, position)
                  JOIN recommendations r USING (recommendation_id)
                 ORDER BY p.position""",
            *arguments,
        ) if page else []
    items = []
    for row in rows:
        item = _recommendation(row)
        item["snippet"] = _snippet(item.pop("headline"))
        items.append(item)
    return {"total": total, "limit": limit, "offset": offset, "items": items, "facets": facets}


async def _facets_and_page(connection: Connection, criteria: LibraryFilter, limit: int,
                           offset: int
                           ) -> tuple[dict[str, list[dict[str, Any]]], int,
                                      list[tuple[UUID, float | None]]]:
    """In one statement: the facet counts and total of what matches, and the (id, rank) of
    the page `limit`/`offset` in the library's order."""
    arguments: list[Any] = [criteria.text] if criteria.has_text else []
    where = criteria.where(arguments)
    if criteria.has_text:
        rank = "ts_rank_cd(r.search_document, websearch_to_tsquery('english', $1), 32)"
        order = "rank DESC, issued_on DESC, recommendation_id"
    else:
        rank, order = "NULL::real", "issued_on DESC, recommendation_id"
    rows = await connection.fetch(
        f"""WITH matched AS MATERIALIZED (
                SELECT r.recommendation_id, r.themes, r.level, r.csp_area, r.open,
                       r.addressee_facets, r.issued_on, {rank} AS rank
                  FROM recommendations r WHERE {where})
            SELECT 'total' AS facet, NULL AS value, count(*) AS count, NULL::uuid AS id,
                   NULL::real AS rank, NULL::bigint AS position FROM matched
            UNION ALL
            SELECT 'theme', theme, count(*), NULL, NULL, NULL
              FROM matched, unnest(matched.themes) AS theme GROUP BY theme
            UNION ALL
            SELECT CASE WHEN grouping(level) = 0 THEN 'level'
                        WHEN grouping(csp_area) = 0 THEN 'area' ELSE 'status' END,
                   CASE WHEN grouping(level) = 0 THEN level
                        WHEN grouping(csp_area) = 0 THEN csp_area
                        WHEN open THEN 'open' ELSE 'closed' END,
                   count(*), NULL, NULL, NULL
              FROM matched GROUP BY GROUPING SETS ((level), (csp_area), (open))
            UNION ALL
            SELECT CASE WHEN facet LIKE 'type:%' THEN 'addressee_type' ELSE 'status' END,
                   split_part(facet, ':', 2), count(*), NULL, NULL, NULL
              FROM matched, unnest(matched.addressee_facets) AS facet
             WHERE facet LIKE 'type:%' OR facet LIKE 'status:%'
             GROUP BY facet
            UNION ALL
            SELECT 'page', NULL, 0, recommendation_id, rank,
                   row_number() OVER (ORDER BY {order})
              FROM (SELECT recommendation_id, rank, issued_on FROM matched
                     ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}) page""",
        *arguments,
    )
    facets: dict[str, list[dict[str, Any]]] = {name: [] for name in FACETS}
    total = 0
    page: list[tuple[int, UUID, float | None]] = []
    for row in rows:
        if row["facet"] == "total":
            total = int(row["count"])
        elif row["facet"] == "page":
            page.append((int(row["position"]), row["id"], row["rank"]))
        else:
            facets[row["facet"]].append({"value": row["value"], "count": int(row["count"])})
    for counts in facets.values():
        counts.sort(key=lambda entry: (-entry["count"], entry["value"] or ""))
    page.sort()
    return facets, total, [(recommendation_id, rank) for _, recommendation_id, rank in page]


# --- recurrence -------------------------------------------------------------------------------


class LibraryIndex:
    """The recommendations' trigram sets held in memory (similarity.TrigramIndex), kept up to
    date from the read model, for recurrence lookups that do not recompute trigrams per row.

    `refresh` reads what was committed since it last looked: rows recorded by a transaction
    whose id is at least the xmin of the previous read's snapshot (migration 0003), so a row
    committed late by a long transaction is not missed; rows already indexed are skipped. The
    index never answers alone: `find_similar` rechecks its candidates with pg_trgm in SQL,
    which gives the exact similarity, the current filter, and drops rows that no longer exist.
    """

    # The index's similarity equals pg_trgm's for texts of ASCII words; for others it may
    # differ slightly, so candidates from this far below the threshold are rechecked.
    MARGIN = 0.1

    def __init__(self) -> None:
        self._index: TrigramIndex | None = None
        self._cursor = 0
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return 0 if self._index is None else len(self._index)

    async def refresh(self, connection: Connection) -> int:
        """Index what was committed since the last refresh; return how many texts were new."""
        async with self._lock:
            if self._index is None:
                ctype = await connection.fetchval("SHOW lc_ctype")
                self._index = TrigramIndex(ascii_words=ctype in ("C", "POSIX"))
            snapshot_xmin = await connection.fetchval(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            # Ids first: rows of still-open transactions are read again until they commit.
            recent = await connection.fetch(
                "SELECT recommendation_id FROM recommendations WHERE recorded_in >= $1::text::xid8",
                str(self._cursor))
            new = [row["recommendation_id"] for row in recent
                   if row["recommendation_id"] not in self._index]
            added = 0
            for start in range(0, len(new), 10_000):
                rows = await connection.fetch(
                    """SELECT r.recommendation_id, r.review_id, r.issued_on, r.themes, r.text,
                              array(SELECT DISTINCT a.addressee_type
                                      FROM recommendation_addressees a
                                     WHERE a.recommendation_id = r.recommendation_id) AS types
                         FROM recommendations r WHERE r.recommendation_id = ANY($1::uuid[])""",
                    new[start:start + 10_000])
                added += self._index.add(
                    Entry(row["recommendation_id"], row["review_id"],
                          row["issued_on"].toordinal(), frozenset(row["themes"]),
                          frozenset(row["types"]), row["text"]) for row in rows)
            self._index.build_if_due()
            # The snapshot was taken before the reads, so nothing committed after it is lost.
            self._cursor = snapshot_xmin
            return added

    async def find_similar(
        self,
        connection: Connection,
        text: str,
        *,
        threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        limit: int = DEFAULT_MAX_LINKS,
        themes: Sequence[str] = (),
        addressee_types: Sequence[str] = (),
        other_than_review: UUID | None = None,
    ) -> list[dict[str, Any]]:
        """Recommendations whose text resembles `text` (pg_trgm similarity at least
        `threshold`), most similar first; with themes or addressee types, only those sharing
        one of them; none of the review `other_than_review`."""
        for attempt in (1, 2):
            await self.refresh(connection)
            assert self._index is not None
            candidates = self._index.search(
                text, threshold=max(0.0, threshold - self.MARGIN), themes=themes,
                addressee_types=addressee_types, other_than_review=other_than_review,
                limit=2 * limit + 10)
            if not candidates:
                return []
            rows = await self._recheck(connection, text, [c.recommendation_id for c in candidates],
                                       themes, addressee_types, other_than_review)
            if len(rows) == len(candidates) or attempt == 2:
                break
            # Indexed rows have gone (the read model was rebuilt): index it again from scratch.
            async with self._lock:
                self._index, self._cursor = None, 0
        alike = [{key: value for key, value in row.items() if key != "eligible"}
                 for row in rows if row["eligible"] and row["similarity"] >= threshold]
        alike.sort(key=lambda row: (-row["similarity"], row["issued_on"],
                                    row["recommendation_id"]))
        return alike[:limit]

    @staticmethod
    async def _recheck(connection: Connection, text: str, candidates: list[UUID],
                       themes: Sequence[str], addressee_types: Sequence[str],
                       other_than_review: UUID | None) -> list[asyncpg.Record]:
        """The candidates' rows with pg_trgm's similarity and whether the filter admits them."""
        arguments: list[Any] = [text, candidates]
        conditions = ["true"]
        if other_than_review is not None:
            arguments.append(other_than_review)
            conditions.append(f"r.review_id <> ${len(arguments)}")
        shared = []
        if themes:
            arguments.append(list(themes))
            shared.append(f"r.themes && ${len(arguments)}::text[]")
        if addressee_types:
            arguments.append(list(addressee_types))
            shared.append(f"""EXISTS (SELECT 1 FROM recommendation_addressees a
                                WHERE a.recommendation_id = r.recommendation_id
                                  AND a.addressee_type = ANY(${len(arguments)}::text[]))""")
        if shared:
            conditions.append("(" + " OR ".join(shared) + ")")
        return await connection.fetch(
            f"""SELECT {_RECOMMENDATION_COLUMNS}, similarity(r.text, $1) AS similarity,
                       ({' AND '.join(conditions)}) AS eligible
                  FROM recommendations r WHERE r.recommendation_id = ANY($2::uuid[])""",
            *arguments,
        )


async def link_recurrences(connection: Connection, index: LibraryIndex,
                           recommendation_id: UUID, *, threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
                           max_links: int = DEFAULT_MAX_LINKS) -> int:
    """Link a recorded recommendation to the other reviews' recommendations it resembles;
    return how many links it has now. Idempotent."""
    new = await connection.fetchrow(
        """SELECT r.review_id, r.text, r.themes, r.issued_on,
                  array(SELECT DISTINCT a.addressee_type FROM recommendation_addressees a
                         WHERE a.recommendation_id = r.recommendation_id) AS addressee_types
             FROM recommendations r WHERE r.recommendation_id = $1""",
        recommendation_id,
    )
    if new is None:
        return 0
    similar = await index.find_similar(
        connection, new["text"], threshold=threshold, limit=max_links, themes=new["themes"],
        addressee_types=new["addressee_types"], other_than_review=new["review_id"])
    later, earlier, similarity = [], [], []
    for row in similar:
        this_is_later = (new["issued_on"], recommendation_id) > (row["issued_on"],
                                                                 row["recommendation_id"])
        later.append(recommendation_id if this_is_later else row["recommendation_id"])
        earlier.append(row["recommendation_id"] if this_is_later else recommendation_id)
        similarity.append(min(1.0, float(row["similarity"])))
    if later:
        await connection.execute(
            """INSERT INTO recurrence_links (recommendation_id, earlier_recommendation_id,
                                             similarity)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::real[])
               ON CONFLICT (recommendation_id, earlier_recommendation_id)
               DO UPDATE SET similarity = excluded.similarity""",
            later, earlier, similarity,
        )
    return len(later)


class LibraryProjection:
    """Links each recorded recommendation to earlier ones it resembles (`recurrence_links`).

    Runs after the recommendations projection in the same transaction, so the recommendation's
    row and its addressees are already there when RecommendationRecorded is applied.
    """

    name = "library"
    tables: Sequence[str] = ("recurrence_links",)

    def __init__(self, similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
                 max_links: int = DEFAULT_MAX_LINKS, index: LibraryIndex | None = None) -> None:
        if not 0 < similarity_threshold <= 1:
            raise ValueError("the similarity threshold must be in (0, 1]")
        if max_links < 1:
            raise ValueError("max_links must be at least 1")
        self.similarity_threshold = similarity_threshold
        self.max_links = max_links
        self.index = index or LibraryIndex()

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.type != RECOMMENDATION_RECORDED:
            return
        await link_recurrences(connection, self.index,
                               UUID(str(event.data["recommendation_id"])),
                               threshold=self.similarity_threshold, max_links=self.max_links)


async def similar_to(pool: asyncpg.Pool, recommendation_id: UUID) -> list[dict[str, Any]] | None:
    """The recommendations linked to this one, earlier and later, most similar first; None when
    the recommendation is unknown."""
    async with pool.acquire() as connection:
        if not await _exists(connection, recommendation_id):
            return None
        rows = await connection.fetch(
            f"""SELECT {_RECOMMENDATION_COLUMNS}, l.similarity, l.direction
                  FROM (SELECT earlier_recommendation_id AS other, similarity,
                               'earlier' AS direction
                          FROM recurrence_links WHERE recommendation_id = $1
                        UNION ALL
                        SELECT recommendation_id, similarity, 'later'
                          FROM recurrence_links WHERE earlier_recommendation_id = $1) l
                  JOIN recommendations r ON r.recommendation_id = l.other
                 ORDER BY l.similarity DESC, r.issued_on, r.recommendation_id""",
            recommendation_id,
        )
    return [_recommendation(row) for row in rows]


async def unimplemented_precedents(pool: asyncpg.Pool,
                                   recommendation_id: UUID) -> list[dict[str, Any]] | None:
    """Earlier recommendations this one resembles (its recurrence links) that went to an
    addressee of a type this one also goes to, and that addressee never implemented; None when
    the recommendation is unknown."""
    async with pool.acquire() as connection:
        if not await _exists(connection, recommendation_id):
            return None
        rows = await connection.fetch(
            f"""SELECT {_RECOMMENDATION_COLUMNS}, l.similarity,
                       json_agg(json_build_object(
                           'addressee_id', a.addressee_id, 'name', a.name,
                           'addressee_type', a.addressee_type,
                           'implementation_status', {EFFECTIVE_STATUS_SQL})
                           ORDER BY a.addressee_type, a.addressee_id) AS unimplemented_by
                  FROM recurrence_links l
                  JOIN recommendations r ON r.recommendation_id = l.earlier_recommendation_id
                  JOIN recommendation_addressees a ON a.recommendation_id = r.recommendation_id
                 WHERE l.recommendation_id = $1
                   AND a.addressee_type IN (SELECT addressee_type FROM recommendation_addressees
                                             WHERE recommendation_id = $1)
                   AND {EFFECTIVE_STATUS_SQL} = ANY($2::text[])
                 GROUP BY r.recommendation_id, l.similarity
                 ORDER BY l.similarity DESC, r.issued_on, r.recommendation_id""",
            recommendation_id, list(UNIMPLEMENTED_STATUSES),
        )
    return [_recommendation(row) for row in rows]


async def recurrence_by_area(pool: asyncpg.Pool, *, theme: str | None = None,
                             area: str | None = None) -> list[dict[str, Any]]:
    """For each theme (or the one given): how many recommendations and reviews carry it and how
    many of those recur (are linked to an earlier recommendation), nationally and per area;
    `recurring_within_area` counts those whose earlier counterpart is from the same area."""
    rows = await pool.fetch(
        """WITH themed AS (
               SELECT theme, r.recommendation_id, r.review_id, r.csp_area,
                      EXISTS (SELECT 1 FROM recurrence_links l
                               WHERE l.recommendation_id = r.recommendation_id) AS recurs,
                      EXISTS (SELECT 1 FROM recurrence_links l
                                JOIN recommendations e
                                  ON e.recommendation_id = l.earlier_recommendation_id
                               WHERE l.recommendation_id = r.recommendation_id
                                 AND lower(e.csp_area) = lower(r.csp_area)) AS recurs_in_area
                 FROM recommendations r, unnest(r.themes) AS theme
                WHERE ($1::text IS NULL OR theme = $1))
           SELECT theme, csp_area, grouping(csp_area) = 1 AS national,
                  count(*) AS recommendations, count(DISTINCT review_id) AS reviews,
                  count(*) FILTER (WHERE recurs) AS recurring,
                  count(*) FILTER (WHERE recurs_in_area) AS recurring_within_area
             FROM themed GROUP BY GROUPING SETS ((theme, csp_area), (theme))
            ORDER BY theme, national DESC, recommendations DESC, csp_area""",
        theme,
    )
    result: dict[str, dict[str, Any]] = {}
    for row in rows:
        counts = {"recommendations": row["recommendations"], "reviews": row["reviews"],
                  "recurring": row["recurring"],
                  "recurrence_rate": round(row["recurring"] / row["recommendations"], 4)}
        if row["national"]:
            result[row["theme"]] = {"theme": row["theme"], "national": counts, "areas": []}
        elif area is None or (row["csp_area"] or "").lower() == area.lower():
            counts["recurring_within_area"] = row["recurring_within_area"]
            result[row["theme"]]["areas"].append({"area": row["csp_area"], **counts})
    return list(result.values())


async def _exists(connection: Connection, recommendation_id: UUID) -> bool:
    return bool(await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM recommendations WHERE recommendation_id = $1)",
        recommendation_id))


# --- export -----------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "recommendation_id", "review_id", "number", "csp_area", "level", "themes", "tags",
    "issued_on", "smart_score", "open", "text", "addressee_id", "addressee_name",
    "addressee_type", "response_status", "implementation_claimed", "implementation_verified",
    "implementation_status", "response_due_on", "target_date", "addressee_open",
)
LIST_SEPARATOR = ";"


async def export_rows(pool: asyncpg.Pool, criteria: LibraryFilter,
                      batch_size: int = 500) -> AsyncIterator[dict[str, Any]]:
    """Every matching recommendation with its addressees, oldest first, read through a cursor so
    that a large export never sits in memory."""
    arguments: list[Any] = [criteria.text] if criteria.has_text else []
    where = criteria.where(arguments)
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        cursor = connection.cursor(
            f"""SELECT {_RECOMMENDATION_COLUMNS}, {_addressees_json("r")} AS addressees
                  FROM recommendations r WHERE {where}
                 ORDER BY r.issued_on, r.csp_area, r.number, r.recommendation_id""",
            *arguments, prefetch=batch_size)
        async for row in cursor:
            yield _recommendation(row)


def flat_rows(recommendation: dict[str, Any]) -> list[list[Any]]:
    """A recommendation as CSV rows, one per addressee (each addressee has its own action)."""
    common = [recommendation["recommendation_id"], recommendation["review_id"],
              recommendation["number"], recommendation["csp_area"], recommendation["level"],
              LIST_SEPARATOR.join(recommendation["themes"]),
              LIST_SEPARATOR.join(recommendation["tags"]), recommendation["issued_on"],
              recommendation["smart_score"], _boolean(recommendation["open"]),
              recommendation["text"]]
    addressees = recommendation["addressees"] or [{}]
    return [[*common, a.get("addressee_id"), a.get("name"), a.get("addressee_type"),
             a.get("response_status"), a.get("implementation_claimed"),
             a.get("implementation_verified"), a.get("implementation_status"),
             a.get("response_due_on"), a.get("target_date"), _boolean(a.get("open"))]
            for a in addressees]


def _boolean(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")
