"""Benchmark of the national library: 100,000 recommendations, p50/p95 latency of typical queries.

Seeds a fresh database through the fast path (rows written straight into the read model tables,
recurrence links computed for a sample through the projection's own function), ANALYZEs, then
times each typical query over many runs with varying parameters:

- text + theme facet: a free-text search narrowed by theme, with its facets and first page;
- addressee type + status: e.g. "police, not implemented", with facets and first page;
- recurrence lookup: the trigram search that links a new text to earlier recommendations
  (the service's in-memory similarity index, loaded first, then rechecked in SQL).

The corpus (tests/support/library_corpus.py, DHR_BENCH_LIBRARY_CORPUS) is "realistic" by
default: texts reworded from synonym banks with each review's particulars (local procedures,
teams, places, percentages, dated deadlines), about one in ten a member of a cluster of genuine
recurrence (5 to 60 reviews repeating one recommendation to one addressee type under one theme).
"templates" is the older corpus of a few fixed phrases per theme, where every text is at least
0.5 similar to hundreds of others. Both are still narrow in vocabulary (under 2,000 distinct
trigrams), so any two texts are about 0.2 to 0.3 similar: the trigram lookup's worst case.

Run alone with `uv run python tests/bench/bench_library.py` (DHR_DATABASE_URL, or a private
PostgreSQL started for the run), or as part of `make bench`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dhr_local.postgres import LocalPostgres, create_database, drop_database
from dhr_local.process import free_port
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_recommendations.__main__ import MIGRATIONS
from dhr_recommendations.library import (
    ADDRESSEE_TYPES,
    THEMES,
    UNIMPLEMENTED_STATUSES,
    LibraryFilter,
    LibraryIndex,
    link_recurrences,
    search,
)
from support.library_corpus import background, insert_into_read_model, planted

SCHEMA = "recommendations"
SIZE = 100_000
LINKED_SAMPLE = 20
RUNS = 200
RECURRENCE_RUNS = 200
SEARCH_WORDS = ("risk assessment", "training staff", "MARAC", "coercive control",
                "information sharing", "older victims", "housing", "record decisions",
                "safety plan", "strangulation", "\"professional curiosity\"", "interpreter",
                "substance misuse", "children household", "campaign")


def figure(name: str, value: float, unit: str) -> None:
    print(f"figure: {name} {value:.1f} {unit}", flush=True)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed(runs: int, query: Callable[[int], Awaitable[object]]) -> list[float]:
    for warm_up in range(5):
        await query(warm_up)
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        await query(run)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bench_library(database_url: str, size: int = SIZE, runs: int = RUNS,
                        style: str = "realistic") -> float:
    """Seed `size` recommendations of the corpus `style`, time the typical queries; return the
    worst p95 in ms."""
    name = f"bench_library_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(create_database, database_url, name)
    pool = await create_pool(url, SCHEMA, max_size=4)
    try:
        await migrate(pool, SCHEMA, [platform_migrations(), MIGRATIONS])
        started = time.perf_counter()
        recommendations = background(size, seed=99, style=style) + planted()
        async with pool.acquire() as connection, connection.transaction():
            # Bulk load without the secondary indexes, then build them from the migration's own
            # definitions: much faster than maintaining GIN indexes row by row.
            indexes = await connection.fetch(
                """SELECT indexname, indexdef FROM pg_indexes
                    WHERE schemaname = $1 AND tablename IN ('recommendations',
                                                            'recommendation_addressees')
                      AND indexname NOT LIKE '%pkey'""", SCHEMA)
            for index in indexes:
                await connection.execute(f'DROP INDEX "{index["indexname"]}"')
            for start in range(0, len(recommendations), 10_000):
                await insert_into_read_model(connection, recommendations[start:start + 10_000])
            for index in indexes:
                await connection.execute(index["indexdef"])
        seeded = time.perf_counter() - started
        await pool.execute("VACUUM ANALYZE recommendations")
        await pool.execute("VACUUM ANALYZE recommendation_addressees")
        figure("library_seed_rows_per_second", len(recommendations) / seeded, "rows/s")
        figure("library_seed_seconds", seeded, "s")

        # The service loads its in-memory similarity index at start, in the background.
        index = LibraryIndex()
        started = time.perf_counter()
        async with pool.acquire() as connection:
            await index.refresh(connection)
        figure("library_index_load_seconds", time.perf_counter() - started, "s")

        # Recurrence links for a sample, written as the projection writes them.
        started = time.perf_counter()
        sample = random.Random(5).sample(recommendations, LINKED_SAMPLE)
        async with pool.acquire() as connection, connection.transaction():
            for recommendation in sample:
                await link_recurrences(connection, index, recommendation.recommendation_id)
        figure("library_link_recurrences_ms_each",
               (time.perf_counter() - started) * 1000 / LINKED_SAMPLE, "ms")
        await pool.execute("ANALYZE recurrence_links")

        rng = random.Random(11)
        worst = 0.0

        async def text_and_theme(run: int) -> object:
            criteria = LibraryFilter(text=SEARCH_WORDS[run % len(SEARCH_WORDS)],
                                     themes=[THEMES[run % len(THEMES)]])
            return await search(pool, criteria, limit=20)

        async def addressee_and_status(run: int) -> object:
            types = [t for t in ADDRESSEE_TYPES if t != "government_department"]
            criteria = LibraryFilter(addressee_types=[types[run % len(types)]],
                                     statuses=[UNIMPLEMENTED_STATUSES[run % 4]])
            return await search(pool, criteria, limit=20)

        drafts = rng.sample(recommendations, runs + 5)

        async def recurrence_lookup(run: int) -> object:
            draft = drafts[run]
            text = draft.text.replace(draft.csp_area, "Rutland")  # a new area, same wording
            async with pool.acquire() as connection:
                return await index.find_similar(connection, text, themes=draft.themes,
                                                addressee_types=sorted(draft.addressee_types))

        for name_, query, count in (("text_theme", text_and_theme, runs),
                                    ("addressee_status", addressee_and_status, runs),
                                    ("recurrence", recurrence_lookup, min(runs, RECURRENCE_RUNS))):
            samples = await timed(count, query)
            p95 = percentile(samples, 0.95)
            figure(f"library_search_{name_}_p50_ms", percentile(samples, 0.50), "ms")
            figure(f"library_search_{name_}_p95_ms", p95, "ms")
            worst = max(worst, p95)
        figure("library_search_p95_ms", worst, "ms")
        return worst
    finally:
        await pool.close()
        await asyncio.to_thread(drop_database, database_url, name)


@contextlib.contextmanager
def database() -> Iterator[str]:
    """DHR_DATABASE_URL, or a private PostgreSQL server for the run (no Kafka needed)."""
    given = os.environ.get("DHR_DATABASE_URL")
    if given:
        yield given
        return
    state = Path(tempfile.mkdtemp(prefix="dhr-bench-library-"))
    state.chmod(0o755)
    postgres = LocalPostgres(state / "postgres", port=free_port(), fast=True)
    try:
        postgres.start()
        yield postgres.url
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    with database() as url:
        asyncio.run(bench_library(url, size=int(os.environ.get("DHR_BENCH_LIBRARY_SIZE", SIZE)),
                                  style=os.environ.get("DHR_BENCH_LIBRARY_CORPUS", "realistic")))
