"""The rebuild's workers get equal shares of consecutive offsets, and entries sort as documented."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from dhr_oversight.rebuild_reader import COORDINATES, ENTRY, coordinates_key, share_out, time_key


def test_the_records_are_shared_out_in_equal_consecutive_ranges_splitting_partitions() -> None:
    ranges = [(0, 0, 0, 100), (0, 1, 5, 5), (1, 0, 0, 37), (1, 1, 10, 60)]

    shares = share_out(ranges, 2)

    assert shares == [[(0, 0, 0, 94)], [(0, 0, 94, 100), (1, 0, 0, 37), (1, 1, 10, 60)]]
    assert [sum(end - first for _, _, first, end in share) for share in shares] == [94, 93]


def test_every_record_is_in_exactly_one_share_whatever_the_number_of_workers() -> None:
    ranges = [(rank, partition, 3 * partition, 3 * partition + 7 * rank + partition)
              for rank in range(4) for partition in range(3)]
    wanted = {(rank, partition, offset) for rank, partition, first, end in ranges
              for offset in range(first, end)}
    for workers in range(1, 9):
        shares = share_out(ranges, workers)
        got = [(rank, partition, offset) for share in shares
               for rank, partition, first, end in share for offset in range(first, end)]
        assert len(shares) <= workers
        assert sorted(got) == sorted(wanted)
    assert share_out([(0, 0, 4, 4)], 2) == []


def test_entry_records_sort_by_event_time_then_topic_rank_partition_and_offset() -> None:
    base = datetime(2025, 3, 1, 9, tzinfo=UTC)
    moments = [base - timedelta(days=365 * 60), base, base + timedelta(microseconds=1),
               base.astimezone(timezone(timedelta(hours=2))) + timedelta(microseconds=2)]
    keys = [(moment, rank, partition, offset) for moment in moments
            for rank in (0, 3) for partition in (0, 2) for offset in (0, 1, 2**40)]

    def record(moment: datetime, rank: int, partition: int, offset: int) -> bytes:
        return ENTRY.pack(time_key(moment), rank, partition, offset, uuid.uuid4().bytes,
                          bytes(32), 0, 0, 0)

    records = {record(*key): key for key in keys}

    assert [records[packed] for packed in sorted(records)] == sorted(keys)
    assert all(packed[COORDINATES] == coordinates_key(*key[1:]) for packed, key in records.items())
