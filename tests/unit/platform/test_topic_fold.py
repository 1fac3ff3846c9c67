"""The pure parts of folding a topic in worker processes: the rows' CSV and the sharing out of
partitions (the fold itself runs against a real broker in tests/integration)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from dhr_platform.topic_fold import PartitionRange, csv_line, share_out


class Colour(StrEnum):
    RED = "red"


class Thing(BaseModel):
    name: str
    on: date


def test_a_row_is_csv_that_copy_reads_back_value_for_value() -> None:
    row = (UUID(int=7), 3, "", None, 'say "hi",\nthen go', True, False, date(2026, 3, 1),
           datetime(2026, 3, 1, 9, 30, tzinfo=UTC), Colour.RED, {"a": ["é", 1]},
           Thing(name="x", on=date(2026, 1, 2)))

    line = csv_line(row)

    fields = next(csv.reader(io.StringIO(line)))
    assert fields == ["00000000-0000-0000-0000-000000000007", "3", "", "", 'say "hi",\nthen go',
                      "t", "f", "2026-03-01", "2026-03-01T09:30:00+00:00", "red",
                      '{"a": ["\\u00e9", 1]}', '{"name":"x","on":"2026-01-02"}']
    # COPY's NULL is an unquoted empty field; an empty string is quoted, so the two differ.
    assert line.startswith('"00000000-0000-0000-0000-000000000007","3","",,"say ""hi"",')
    assert line.endswith("\n")


def test_partitions_are_shared_out_by_record_count_and_never_split() -> None:
    ranges = [PartitionRange(0, 0, 900), PartitionRange(1, 100, 600), PartitionRange(2, 0, 400),
              PartitionRange(3, 0, 100)]

    groups = share_out(ranges, 2)

    assert sorted(p.partition for group in groups for p in group) == [0, 1, 2, 3]
    assert sorted(sum(p.records for p in group) for group in groups) == [900, 1000]
    assert share_out(ranges, 8) == [[ranges[0]], [ranges[1]], [ranges[2]], [ranges[3]]]
    assert share_out([], 3) == []
