"""The national library on real PostgreSQL: full-text search with ranks and snippets, filters
and facets, recurrence links, never-implemented precedents, recurrence by area, and CSV/JSON
exports, over a seeded corpus of 2,000 generated recommendations plus planted ones."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from dhr_local.postgres import create_database, drop_database
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventMetadata, EventStore
from dhr_platform.http import create_app
from dhr_platform.projections import rebuild, table_checksum
from dhr_recommendations.__main__ import MIGRATIONS, projections
from dhr_recommendations.library import LibraryIndex
from dhr_recommendations.library_api import build_library_router
from dhr_recommendations.similarity import trigrams
from support.library_corpus import Corpus, Recommendation, corpus, recorded_events, stream_of
from support.tokens import HEALTH_LEAD, TestIssuer

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SCHEMA = "recommendations"
CORPUS_SIZE = 2000
RECURRING = ("recurring-2014-backfilled", "recurring-2016", "recurring-2018-housing",
             "recurring-2019", "recurring-2023")


async def migrated_pool(url: str) -> asyncpg.Pool:
    """A pool on the service's schema with the service's own migrations applied."""
    pool = await create_pool(url, SCHEMA, max_size=10)
    await migrate(pool, SCHEMA, [platform_migrations(), MIGRATIONS])
    return pool


async def record(store: EventStore, recommendations: list[Recommendation],
                 per_transaction: int = 500) -> None:
    """Append each recommendation's events through the service's projections, in order."""
    for start in range(0, len(recommendations), per_transaction):
        async with store.pool.acquire() as connection, connection.transaction():
            for r in recommendations[start:start + per_transaction]:
                await store.append(connection, stream_of(r), 0, recorded_events(r),
                                   EventMetadata(subject=str(r.review_id), actor="library-test"))


@dataclass
class LibraryRuntime:
    """What the library's routes take from the service runtime: its pool."""

    pool: asyncpg.Pool


@dataclass
class Library:
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    corpus: Corpus
    links: set[tuple[uuid.UUID, uuid.UUID]]

    def ids(self, *labels: str) -> list[str]:
        return [str(self.corpus.planted(label).recommendation_id) for label in labels]


@pytest.fixture(scope="module")
async def seeded(database_url: str, token_issuer: TestIssuer) -> AsyncIterator[Library]:
    """One database for the module's read-only tests, seeded once through the event store and
    the service's projections (RecommendationsProjection, then LibraryProjection). The client
    searches as an agency lead: the library is open to every person's role."""
    name = f"test_library_{uuid.uuid4().hex[:12]}"
    url = create_database(database_url, name)
    pool = await migrated_pool(url)
    data = corpus(CORPUS_SIZE)
    try:
        await record(EventStore(pool, projections()), data.recommendations)
        await pool.execute("ANALYZE")
        links = {(row["recommendation_id"], row["earlier_recommendation_id"])
                 for row in await pool.fetch("SELECT * FROM recurrence_links")}
        app = create_app(title="library", version="test", description="",
                         routers=[build_library_router(LibraryRuntime(pool), lambda: NOW,  # type: ignore[arg-type]
                                                  LibraryIndex())],
                         readiness={}, error_statuses={}, max_body_bytes=1 << 20,
                         token_verifier=token_issuer.verifier())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://library",
                                     headers=token_issuer.headers(HEALTH_LEAD)) as client:
            yield Library(client, pool, data, links)
    finally:
        await pool.close()
        drop_database(database_url, name)


# --- what the seeded data says, computed in Python --------------------------------------------


def matches(r: Recommendation, *, theme: tuple[str, ...] = (), addressee_type: tuple[str, ...] = (),
            level: tuple[str, ...] = (), status: tuple[str, ...] = (), area: tuple[str, ...] = (),
            issued_from: date | None = None, issued_to: date | None = None) -> bool:
    open_closed = {s for s in status if s in ("open", "closed")}
    implementation = {s for s in status if s not in ("open", "closed")}
    return ((not theme or bool(set(r.themes) & set(theme)))
            and (not level or r.level in level)
            and (not area or r.csp_area.lower() in {a.lower() for a in area})
            and (issued_from is None or r.issued_on >= issued_from)
            and (issued_to is None or r.issued_on <= issued_to)
            and (len(open_closed) != 1 or ("open" if r.open else "closed") in open_closed)
            and (not (addressee_type or implementation) or any(
                (not addressee_type or a.addressee_type in addressee_type)
                and (not implementation or a.implementation_status in implementation)
                for a in r.addressees)))


def expected_facets(found: list[Recommendation]) -> dict[str, dict[str | None, int]]:
    return {
        "theme": dict(Counter(t for r in found for t in r.themes)),
        "addressee_type": dict(Counter(t for r in found for t in r.addressee_types)),
        "level": dict(Counter(r.level for r in found)),
        "status": dict(Counter(s for r in found for s in r.statuses)),
        "area": dict(Counter(r.csp_area for r in found)),
    }


def facets_of(body: dict[str, Any]) -> dict[str, dict[str | None, int]]:
    return {name: {entry["value"]: entry["count"] for entry in counts}
            for name, counts in body["facets"].items()}


# --- full-text search -------------------------------------------------------------------------


async def test_a_word_finds_exactly_the_recommendations_that_contain_it_best_first(
        seeded: Library) -> None:
    response = await seeded.client.get("/library/search", params={"q": "hoarding"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    assert [item["recommendation_id"] for item in body["items"]] == seeded.ids(
        "hoarding-twice", "hoarding-once")
    first, second = body["items"]
    assert first["rank"] > second["rank"] > 0
    assert "<mark>hoarding</mark>" in first["snippet"]
    assert first["addressees"][0]["name"] == "Suffolk Adult Social Care"
    assert facets_of(body)["area"] == {"Suffolk": 1, "Norfolk": 1}


async def test_a_phrase_ranks_the_words_together_above_the_same_words_apart(
        seeded: Library) -> None:
    response = await seeded.client.get("/library/search",
                                       params={"q": "stalking protection order"})

    body = response.json()
    assert [item["recommendation_id"] for item in body["items"]] == seeded.ids(
        "stalking-together", "stalking-apart")
    quoted = await seeded.client.get("/library/search",
                                     params={"q": '"stalking protection orders"'})
    assert [item["recommendation_id"] for item in quoted.json()["items"]] == seeded.ids(
        "stalking-together")
    excluded = await seeded.client.get("/library/search", params={"q": "stalking -protection"})
    assert [item["recommendation_id"] for item in excluded.json()["items"]] == seeded.ids(
        "stalking-only")


async def test_text_and_filters_combine(seeded: Library) -> None:
    response = await seeded.client.get("/library/search", params={
        "q": "stalking", "theme": "identification_of_risk", "status": "closed"})

    body = response.json()
    assert [item["recommendation_id"] for item in body["items"]] == seeded.ids("stalking-apart")
    assert facets_of(body)["status"] == {"closed": 1, "implemented": 1}


async def test_snippets_never_pass_the_text_through_as_html(seeded: Library) -> None:
    response = await seeded.client.get("/library/search", params={"q": "gaslighting"})

    snippet = response.json()["items"][0]["snippet"]
    assert "&quot;<mark>gaslighting</mark>&quot;" in snippet


# --- filters and facets -----------------------------------------------------------------------

FILTERS: list[dict[str, Any]] = [
    {},
    {"theme": ("training",)},
    {"theme": ("policy", "record_keeping"), "level": ("local",)},
    {"addressee_type": ("police",), "status": ("not_implemented",)},
    {"addressee_type": ("health_services", "housing")},
    {"status": ("open",), "area": ("norfolk",)},
    {"status": ("closed", "superseded")},
    {"level": ("national",), "issued_from": date(2020, 1, 1)},
    {"area": ("Leeds", "Kent"), "issued_from": date(2015, 6, 1), "issued_to": date(2019, 12, 31)},
    {"theme": ("multi_agency_working",), "addressee_type": ("probation",),
     "status": ("open", "in_progress")},
]


def query_of(criteria: dict[str, Any]) -> list[tuple[str, str]]:
    names = {"issued_from": "from", "issued_to": "to"}
    params = []
    for key, value in criteria.items():
        values = value if isinstance(value, tuple) else (value,)
        params += [(names.get(key, key), str(v)) for v in values]
    return params


@pytest.mark.parametrize("criteria", FILTERS, ids=lambda c: ",".join(c) or "everything")
async def test_filters_and_facets_agree_with_the_seeded_data(
        seeded: Library, criteria: dict[str, Any]) -> None:
    found = [r for r in seeded.corpus.recommendations if matches(r, **criteria)]
    assert found, "a filter that matches nothing proves little"

    response = await seeded.client.get("/library/search",
                                       params=[*query_of(criteria), ("limit", "200")])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(found)
    assert facets_of(body) == expected_facets(found)
    expected_ids = [str(r.recommendation_id) for r in sorted(
        found, key=lambda r: (-r.issued_on.toordinal(), str(r.recommendation_id)))]
    assert [item["recommendation_id"] for item in body["items"]] == expected_ids[:200]


async def test_pages_follow_each_other_without_gaps(seeded: Library) -> None:
    params = {"theme": "training", "limit": 7}
    whole = (await seeded.client.get("/library/search", params={**params, "limit": 21})).json()
    pages = [(await seeded.client.get("/library/search",
                                      params={**params, "offset": offset})).json()
             for offset in (0, 7, 14)]

    assert [item["recommendation_id"] for page in pages for item in page["items"]] == [
        item["recommendation_id"] for item in whole["items"]]
    assert {page["total"] for page in pages} == {whole["total"]}


async def test_bad_filters_are_refused_naming_the_field(seeded: Library) -> None:
    bad_theme = await seeded.client.get("/library/search", params={"theme": "kindness"})
    reversed_dates = await seeded.client.get("/library/search",
                                             params={"from": "2020-01-01", "to": "2019-01-01"})
    bad_format = await seeded.client.get("/library/export", params={"format": "xlsx"})
    unknown = await seeded.client.get(f"/library/recommendations/{uuid.uuid4()}/similar")

    assert bad_theme.status_code == 422
    assert bad_theme.json()["errors"][0]["field"] == "theme.0"
    assert reversed_dates.status_code == 422 and reversed_dates.json()["field"] == "to"
    assert bad_format.status_code == 422
    assert bad_format.json()["errors"][0]["field"] == "format"
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


# --- recurrence -------------------------------------------------------------------------------


def label_links(seeded: Library) -> set[tuple[str, str]]:
    """The links between planted recommendations, by label."""
    labels = {r.recommendation_id: r.label for r in seeded.corpus.recommendations if r.label}
    return {(labels[later], labels[earlier]) for later, earlier in seeded.links
            if later in labels and earlier in labels}


async def test_near_duplicates_in_other_reviews_are_linked_to_the_earlier_ones(
        seeded: Library) -> None:
    by_date = sorted(RECURRING, key=lambda label: seeded.corpus.planted(label).issued_on)
    expected = {(later, earlier) for i, later in enumerate(by_date) for earlier in by_date[:i]}

    assert label_links(seeded) == expected

    response = await seeded.client.get(
        f"/library/recommendations/{seeded.ids('recurring-2019')[0]}/similar")
    items = response.json()["items"]
    directions = {item["recommendation_id"]: item["direction"] for item in items}
    assert directions == {
        **dict.fromkeys(seeded.ids("recurring-2014-backfilled", "recurring-2016",
                                   "recurring-2018-housing"), "earlier"),
        **dict.fromkeys(seeded.ids("recurring-2023"), "later")}
    assert all(0.5 <= item["similarity"] <= 1 for item in items)
    assert [i["similarity"] for i in items] == sorted((i["similarity"] for i in items),
                                                      reverse=True)


async def test_lookalikes_without_a_shared_theme_or_addressee_type_and_unrelated_texts_are_not_linked(
        seeded: Library) -> None:
    unlinked = seeded.ids("lookalike-other-theme", "same-review-1", "same-review-2",
                          "unrelated-chaplaincy", "unrelated-ketamine", "hoarding-twice")
    linked = {str(i) for pair in seeded.links for i in pair}

    assert linked.isdisjoint(unlinked)
    response = await seeded.client.get(
        f"/library/recommendations/{seeded.ids('unrelated-chaplaincy')[0]}/similar")
    assert response.json()["items"] == []


async def test_never_implemented_precedents_are_earlier_lookalikes_to_the_same_addressee_type(
        seeded: Library) -> None:
    response = await seeded.client.get(
        f"/library/recommendations/{seeded.ids('recurring-2023')[0]}/unimplemented-precedents")

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # 2019 was implemented; 2018 went to housing, which 2023 does not address.
    assert sorted(item["recommendation_id"] for item in items) == sorted(seeded.ids(
        "recurring-2016", "recurring-2014-backfilled"))
    by_id = {item["recommendation_id"]: item for item in items}
    assert by_id[seeded.ids("recurring-2016")[0]]["unimplemented_by"] == [{
        "addressee_id": "essex-police", "name": "Essex Police",
        "addressee_type": "police", "implementation_status": "not_implemented"}]
    # The CSP's verified status, not the claim, decides.
    assert by_id[seeded.ids("recurring-2014-backfilled")[0]]["unimplemented_by"][0][
        "implementation_status"] == "not_implemented"


async def test_a_draft_text_is_checked_against_the_library_before_it_is_recorded(
        seeded: Library) -> None:
    draft = seeded.corpus.planted("recurring-2023").text.replace("Kent", "Surrey")

    response = await seeded.client.get("/library/similar", params={
        "text": draft, "theme": "identification_of_risk"})

    found = [item["recommendation_id"] for item in response.json()["items"]]
    assert set(seeded.ids(*RECURRING)) <= set(found)
    assert found[0] == seeded.ids("recurring-2023")[0]
    assert seeded.ids("lookalike-other-theme")[0] not in found


async def test_recurrence_of_a_theme_is_counted_per_area_and_nationally(seeded: Library) -> None:
    theme = "identification_of_risk"
    response = await seeded.client.get("/library/recurrence",
                                       params={"theme": theme, "area": "essex"})

    body = response.json()
    assert [entry["theme"] for entry in body["themes"]] == [theme]
    themed = [r for r in seeded.corpus.recommendations if theme in r.themes]
    recurring = {later for later, _ in seeded.links}
    national = body["themes"][0]["national"]
    assert national["recommendations"] == len(themed)
    assert national["reviews"] == len({r.review_id for r in themed})
    assert national["recurring"] == sum(r.recommendation_id in recurring for r in themed)
    [essex] = body["themes"][0]["areas"]
    in_essex = [r for r in themed if r.csp_area == "Essex"]
    areas = {r.recommendation_id: r.csp_area for r in seeded.corpus.recommendations}
    assert essex == {
        "area": "Essex", "recommendations": len(in_essex),
        "reviews": len({r.review_id for r in in_essex}),
        "recurring": sum(r.recommendation_id in recurring for r in in_essex),
        "recurrence_rate": round(sum(r.recommendation_id in recurring for r in in_essex)
                                 / len(in_essex), 4),
        "recurring_within_area": sum(
            any(later == r.recommendation_id and areas[earlier] == "Essex"
                for later, earlier in seeded.links) for r in in_essex),
    }
    assert essex["recurring_within_area"] >= 2  # 2018 and 2019 repeat Essex's 2016


# --- exports ----------------------------------------------------------------------------------


def csv_rows(recommendations: list[Recommendation]) -> list[dict[str, str]]:
    """What the CSV export must hold: one row per addressee, oldest first."""
    ordered = sorted(recommendations, key=lambda r: (r.issued_on, r.csp_area, r.number,
                                                     str(r.recommendation_id)))
    rows = []
    for r in ordered:
        for a in sorted(r.addressees, key=lambda a: (a.addressee_type, a.addressee_id)):
            rows.append({
                "recommendation_id": str(r.recommendation_id), "review_id": str(r.review_id),
                "number": str(r.number), "csp_area": r.csp_area, "level": r.level,
                "themes": ";".join(r.themes), "tags": ";".join(r.tags),
                "issued_on": r.issued_on.isoformat(), "smart_score": str(r.smart_score),
                "open": str(r.open).lower(), "text": r.text, "addressee_id": a.addressee_id,
                "addressee_name": a.name, "addressee_type": a.addressee_type,
                "response_status": a.response_status,
                "implementation_claimed": a.implementation_claimed,
                "implementation_verified": a.implementation_verified or "",
                "implementation_status": a.implementation_status,
                "response_due_on": a.response_due_on.isoformat() if a.response_due_on else "",
                "target_date": a.target_date.isoformat() if a.target_date else "",
                "addressee_open": str(a.open).lower()})
    return rows


async def test_the_whole_library_exports_as_csv_that_parses_back_to_the_seeded_data(
        seeded: Library) -> None:
    response = await seeded.client.get("/library/export", params={"format": "csv"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="dhr-library-2026-03-02.csv"')
    assert response.text.startswith("recommendation_id,review_id,number,")
    assert "\r\n" in response.text
    parsed = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert parsed == csv_rows(seeded.corpus.recommendations)
    awkward = next(row for row in parsed
                   if row["recommendation_id"] == seeded.ids("awkward-csv")[0])
    assert awkward["text"] == seeded.corpus.planted("awkward-csv").text
    assert '"gaslighting"' in awkward["text"] and "\n" in awkward["text"]


async def test_a_filtered_export_as_json_equals_the_seeded_data(seeded: Library) -> None:
    criteria = {"theme": ("policy",), "level": ("national",)}
    response = await seeded.client.get("/library/export",
                                       params=[("format", "json"), *query_of(criteria)])

    assert response.headers["content-disposition"] == (
        'attachment; filename="dhr-library-2026-03-02.json"')
    body = response.json()
    assert body["filters"]["theme"] == ["policy"]
    found = [r for r in seeded.corpus.recommendations if matches(r, **criteria)]
    assert [item["recommendation_id"] for item in body["items"]] == [
        str(r.recommendation_id) for r in sorted(found, key=lambda r: (
            r.issued_on, r.csp_area, r.number, str(r.recommendation_id)))]
    by_id = {item["recommendation_id"]: item for item in body["items"]}
    for r in found:
        item = by_id[str(r.recommendation_id)]
        assert (item["text"], item["themes"], item["level"], item["csp_area"],
                item["issued_on"], item["open"]) == (
            r.text, list(r.themes), r.level, r.csp_area, r.issued_on.isoformat(), r.open)
        assert [(a["addressee_type"], a["name"], a["implementation_status"])
                for a in item["addressees"]] == sorted(
            (a.addressee_type, a.name, a.implementation_status) for a in r.addressees)


async def test_an_area_action_plan_exports_every_addressee_action_of_that_area(
        seeded: Library) -> None:
    essex = [r for r in seeded.corpus.recommendations if r.csp_area == "Essex"]

    as_csv = await seeded.client.get("/library/action-plans/essex", params={"format": "csv"})
    as_json = await seeded.client.get("/library/action-plans/Essex")
    unknown = await seeded.client.get("/library/action-plans/Atlantis")

    assert as_csv.headers["content-disposition"] == (
        'attachment; filename="dhr-action-plan-essex-2026-03-02.csv"')
    assert list(csv.DictReader(io.StringIO(as_csv.text, newline=""))) == csv_rows(essex)
    body = as_json.json()
    assert body["area"] == "Essex"
    assert sorted(item["recommendation_id"] for item in body["items"]) == sorted(
        str(r.recommendation_id) for r in essex)
    assert unknown.status_code == 404 and unknown.json()["field"] == "area"


# --- the in-memory similarity index agrees with pg_trgm -------------------------------------


async def test_the_index_extracts_the_trigrams_pg_trgm_extracts(seeded: Library) -> None:
    texts = [r.text for r in seeded.corpus.recommendations[:300]] + [
        "", "!!", "A-B c_d 12.5% (x)", "Don't re-refer: MARAC/IDVA", "naïve café Zoë", "x" * 300]

    from_postgres = await seeded.pool.fetch(
        "SELECT t, show_trgm(t) AS grams FROM unnest($1::text[]) AS t", texts)

    for row in from_postgres:
        assert trigrams(row["t"]) == frozenset(row["grams"]), row["t"]


async def test_the_index_finds_what_pg_trgm_finds_row_by_row(seeded: Library) -> None:
    index = LibraryIndex()
    rng = random.Random(8)
    drafts = rng.sample(seeded.corpus.recommendations, 40)
    async with seeded.pool.acquire() as connection:
        for draft in drafts:
            text = draft.text.replace(draft.csp_area or "", "Rutland")
            themes = sorted(draft.themes)
            found = await index.find_similar(connection, text, threshold=0.45, themes=themes,
                                             other_than_review=draft.review_id, limit=50)
            expected = await connection.fetch(
                """SELECT recommendation_id, similarity(text, $1) AS similarity FROM recommendations
                    WHERE similarity(text, $1) >= 0.45 AND themes && $2 AND review_id <> $3
                    ORDER BY similarity DESC, issued_on, recommendation_id LIMIT 50""",
                text, themes, draft.review_id)
            assert [(r["recommendation_id"], r["similarity"]) for r in found] == [
                (r["recommendation_id"], r["similarity"]) for r in expected]
    assert len(index) == len(seeded.corpus)


async def test_a_recommendation_committed_late_by_an_older_transaction_is_still_indexed(
        fresh_database: str) -> None:
    data = corpus(60, seed=9)
    early, late, *rest = data.recommendations
    pool = await migrated_pool(fresh_database)
    index = LibraryIndex()
    store = EventStore(pool, projections(index=index))
    try:
        async with pool.acquire() as slow, slow.transaction():
            # Recorded without the library projection, whose lookup would index it at once.
            without_library = EventStore(pool, projections(index=index)[:1])
            await without_library.append(slow, stream_of(early), 0, recorded_events(early),
                                         EventMetadata(subject=str(early.review_id),
                                                       actor="test"))
            # Others commit while `slow` is open, and the index reads past them.
            await record(store, [late, *rest])
            async with pool.acquire() as connection:
                await index.refresh(connection)
            assert len(index) == len(data.recommendations) - 1
        # `slow` commits after the index last looked; its row is found all the same.
        async with pool.acquire() as connection:
            found = await index.find_similar(connection, early.text, threshold=0.99)
        assert [row["recommendation_id"] for row in found] == [early.recommendation_id]

        # Rows gone from the read model (emptied for a rebuild): the index is made again.
        await pool.execute("DELETE FROM recommendations WHERE recommendation_id <> $1",
                           late.recommendation_id)
        async with pool.acquire() as connection:
            assert await index.find_similar(connection, early.text, threshold=0.99) == []
            assert [row["recommendation_id"] for row in await index.find_similar(
                connection, late.text, threshold=0.99)] == [late.recommendation_id]
        assert len(index) == 1
    finally:
        await pool.close()


# --- through the event store ------------------------------------------------------------------


async def test_the_links_are_written_as_each_recommendation_is_recorded_and_rebuild_the_same(
        fresh_database: str) -> None:
    data = corpus(300, seed=7)
    pool = await migrated_pool(fresh_database)
    try:
        store = EventStore(pool, projections())
        await record(store, data.recommendations, per_transaction=1)
        labels = {r.recommendation_id: r.label for r in data.recommendations}
        links = {(labels.get(row[0]), labels.get(row[1]))
                 for row in await pool.fetch("SELECT * FROM recurrence_links")}
        # Recorded last but issued first, the old review's recommendation is the earlier one.
        assert ("recurring-2023", "recurring-2014-backfilled") in links
        assert ("recurring-2023", "recurring-2016") in links
        before = await table_checksum(pool, "recurrence_links",
                                      "recommendation_id, earlier_recommendation_id")

        await rebuild(store)

        assert await table_checksum(pool, "recurrence_links",
                                    "recommendation_id, earlier_recommendation_id") == before
    finally:
        await pool.close()
