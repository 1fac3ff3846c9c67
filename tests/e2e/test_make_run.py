"""`make run` (dhr-run) as a newcomer meets it: every service under one supervisor, the sample
review taken from notification to publication, the commands to look at it printed; Ctrl-C stops
it cleanly, and running it again reuses the data without recording anything twice.

Runs dhr-run as a process against the session's Kafka and a fresh database (so it starts no
servers of its own), with its services on free ports and its state in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from personal_data_scan import (
    SAMPLE_PERSONAL_VALUES,
    OtlpCollector,
    files_under,
    kafka_records,
    leaks,
)

from dhr_local.process import free_port
from dhr_local.run import SERVICES
from dhr_local.sample import MANAGER, WALK, request
from dhr_platform.dev_issuer import DevelopmentIssuer
from support.database import database_rows

UP = "the system is up"


class Run:
    """One dhr-run process whose output is collected line by line."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dhr_local.run"], env=environment, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, within: float) -> None:
        deadline = time.monotonic() + within
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dhr-run never said {text!r}:\n{self.output[-4000:]}")
            time.sleep(0.5)

    def interrupt(self, within: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def status_of(url: str) -> int | None:
    try:
        return request("GET", url)[0]
    except OSError:  # not listening (yet)
        return None


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_make_run_takes_the_sample_review_through_its_life_and_reuses_it_when_run_again(
        kafka_bootstrap: str, fresh_database: str, tmp_path: Path) -> None:
    ports = {service.name: free_port() for service in SERVICES}
    environment = dict(os.environ, DHR_KAFKA_BOOTSTRAP=kafka_bootstrap,
                       DHR_DATABASE_URL=fresh_database, DHR_STATE_DIR=str(tmp_path),
                       DHR_RUN_QUIET="1",
                       **{f"DHR_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    # The development issuer dhr-run uses (its key is made once in the state directory).
    issuer = DevelopmentIssuer.load_or_create(tmp_path / "auth")
    manager = {"Authorization": "Bearer " + issuer.mint(role=MANAGER[0],
                                                         organisation=MANAGER[1]),
               "DHR-Purpose": "review-work"}

    collector = OtlpCollector()
    with collector.running() as otlp:
        first = Run(environment | {"DHR_OTEL_ENDPOINT": otlp})
        try:
            first.wait_for(UP, within=400)
            review_id = re.search(r"dhr history ([0-9a-f-]{36})", first.output).group(1)  # type: ignore[union-attr]

            # Every step was shown, and the review went the whole way.
            assert f"[{len(WALK)}/{len(WALK)}] published" in first.output
            for service in SERVICES:
                assert f"http://127.0.0.1:{ports[service.name]}/docs" in first.output
            assert f"dhr export --review {review_id}" in first.output
            assert "dhr verify" in first.output and "export TOKEN=" in first.output
            _, review = request("GET", f"{url['commissioning']}/reviews/{review_id}",
                                headers=manager)
            assert review["status"] == "published"
            _, recommendations = request(
                "GET", f"{url['recommendations']}/reviews/{review_id}/recommendations",
                headers=manager)
            [recommendation] = recommendations["items"]
            assert recommendation["addressees"][0]["response_status"] == "accepted"
            _, events = request("GET", f"{url['commissioning']}/reviews/{review_id}/events",
                                headers=manager)
            assert "Sample Victim Name" in str(events)  # opened for the review manager

            # A service that dies is reported and started again.
            (panel_pid,) = [pid for pid in children(first.process.pid)
                            if b"dhr_panel" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            os.kill(panel_pid, signal.SIGKILL)
            first.wait_for("panel exited with code -9; restarting", within=30)
            deadline = time.monotonic() + 120
            while status_of(f"{url['panel']}/readyz") != 200:
                assert time.monotonic() < deadline, "the panel did not come back"
                time.sleep(1)
            assert first.interrupt() == 0  # the services flush their spans as they stop
            assert "stopping the services" in first.output
        finally:
            first.kill()  # whatever failed, no service is left running

    # After the whole run, personal data is in plain text nowhere but in the API's answers:
    # not on Kafka, in the database, in the logs and files, in the output or in the traces.
    assert b"POST /reviews" in collector.spans()  # the scan sees real traces
    places = {f"Kafka record {n}": record
              for n, record in enumerate(asyncio.run(kafka_records(kafka_bootstrap)))}
    places |= {f"database row {n}": row.encode()
               for n, row in enumerate(asyncio.run(database_rows(fresh_database)))}
    places |= {str(path): content for path, content in files_under(tmp_path)}
    places["dhr-run output"] = first.output.encode()
    places["OTLP exports"] = b"".join(body for _, body in collector.exports)
    assert len(places) > 100
    assert not leaks(SAMPLE_PERSONAL_VALUES, places)

    second = Run(environment)
    try:
        second.wait_for(UP, within=400)
        assert f"dhr history {review_id}" in second.output  # the same review, found again
        _, reviews = request("GET", f"{url['commissioning']}/reviews", headers=manager)
        assert [item["review_id"] for item in reviews["items"]] == [review_id]
        _, again = request("GET", f"{url['commissioning']}/reviews/{review_id}/events",
                           headers=manager)
        assert again == events  # nothing recorded twice
    finally:
        assert second.interrupt() == 0
