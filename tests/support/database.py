"""What a scan of the database sees: every row of every table, as text."""

from __future__ import annotations

import asyncpg


async def database_rows(database_url: str, schema: str | None = None) -> list[str]:
    """Every row of every table outside PostgreSQL's own schemas (of `schema` alone, when
    given), each as its text form."""
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
                WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                  AND table_type = 'BASE TABLE' AND ($1::text IS NULL OR table_schema = $1)""",
            schema)
        rows: list[str] = []
        for table in tables:
            rows += [row["row"] for row in await connection.fetch(
                f'SELECT t::text AS row FROM "{table["table_schema"]}"."{table["table_name"]}" t')]
    finally:
        await connection.close()
    return rows
