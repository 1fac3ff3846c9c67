"""Benchmark: verifying a full audit-export bundle of 1,000,000 events (goal ≥ 200,000 events/s).

Run alone with `uv run python tests/bench/bench_verify.py [EVENTS]`; `make bench` runs it last. No
infrastructure: the bundle is generated in a temporary directory, then `verify_bundle` is timed.
Prints `figure: bundle_verify_events_per_s <value> events/s`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from dhr_oversight.bundle import write_bundle
from dhr_oversight.ledger import Checkpoint, MerkleTree, NoteSigner, event_leaf_data, leaf_hash
from dhr_oversight.verify import verify_bundle

ORIGIN = "dhr.example/oversight"


def figure(name: str, value: float, unit: str) -> None:
    print(f"figure: {name} {value:.1f} {unit}", flush=True)


def generated_events(count: int) -> Iterator[bytes]:
    """Canonical leaf data of realistic size (~560 bytes): a template whose numbered fields keep JCS order."""
    template = event_leaf_data({
        "id": "4f1c6f0e-8a57-4c1e-9d3e-@@@@@@@@@@@@",
        "source": "/dhr/commissioning",
        "type": "dhr.commissioning.ReviewNotified.v1",
        "subject": "8a0f6a8e-3f7e-4b8e-9c55-@@@@@@@@@@@@",
        "time": "2025-04-01T09:30:00Z",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "stream": "review-8a0f6a8e-3f7e-4b8e-9c55-@@@@@@@@@@@@",
        "streamversion": 1,
        "correlationid": "0c5b2f7a-1111-4222-8333-944455556666",
        "causationid": "1d6c3e8b-2222-4333-9444-a55566667777",
        "actor": "user:review-manager-leeds",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "data": {"review_id": "8a0f6a8e-3f7e-4b8e-9c55-@@@@@@@@@@@@", "area": "Leeds",
                 "notified_on": "2025-03-28", "notifying_agency": "West Yorkshire Police",
                 "victim": "ciphertext:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"},
    })
    head, *rest = template.split(b"@@@@@@@@@@@@")
    for number in range(count):
        digits = b"%012d" % number
        yield head + b"".join(digits + part for part in rest)


def generate_bundle(directory: Path, count: int) -> None:
    events = list(generated_events(count))
    tree = MerkleTree.from_leaf_hashes(leaf_hash(event) for event in events)
    signer = NoteSigner.from_seed(ORIGIN, bytes(range(32)))
    note = signer.sign(Checkpoint(ORIGIN, tree.size, tree.root(), datetime(2025, 4, 1, tzinfo=UTC)))
    write_bundle(directory, enumerate(events), tree, note, [signer.verifier_key_string()], full=True,
                 selection={"all": "true"}, manifest_signer=signer)


def bench_verify(count: int = 1_000_000) -> None:
    directory = Path(tempfile.mkdtemp(prefix="dhr-bench-bundle-"))
    try:
        started = time.perf_counter()
        generate_bundle(directory, count)
        size = (directory / "events.jsonl").stat().st_size
        print(f"generated {count} events ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s",
              flush=True)
        started = time.perf_counter()
        report = verify_bundle(directory)
        elapsed = time.perf_counter() - started
        if not report.ok or report.checked_events != count:
            raise SystemExit("the generated bundle did not verify:\n" + report.describe())
        figure("bundle_verify_events_per_s", count / elapsed, "events/s")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    bench_verify(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
