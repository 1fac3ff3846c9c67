"""docs/integration.md works as written: its examples marked `tested=<name>` are run, in the order
an agency would use them, against the commissioning, panel and integration services on real
ports, with the page's own webhook receiver as the receiver. The services trust the test token
issuer, and the shell examples get `$TOKEN`: one of the agency's case system, as the page says."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from webhook_support import served

from dhr_commissioning.__main__ import build_app as build_commissioning_app
from dhr_commissioning.config import CommissioningSettings
from dhr_integration.__main__ import build_app as build_integration_app
from dhr_integration.config import IntegrationSettings
from dhr_integration.signatures import signature_header
from dhr_local.process import free_port
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.config import PanelSettings
from support.tokens import TestIssuer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
EXAMPLE = re.compile(r"^```(?P<language>\w+) tested=(?P<name>[\w-]+)\n(?P<code>.*?)^```$",
                     re.MULTILINE | re.DOTALL)
ORGANISATION = "Norfolk Constabulary"


def examples() -> dict[str, tuple[str, str]]:
    """The page's tested examples by name: (language, code)."""
    found: dict[str, tuple[str, str]] = {}
    for match in EXAMPLE.finditer(PAGE.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two examples are named {match['name']}"
        found[match["name"]] = (match["language"], match["code"])
    return found


def test_every_example_of_the_page_is_run_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")

    assert set(examples()) == {"notify", "intake", "submit", "consume", "subscribe", "verify",
                               "receiver", "log", "replay"}
    assert all(f'"{name}"' in source for name in examples())


def definitions_of(name: str, code: str | None = None) -> dict[str, Any]:
    """What a Python example defines."""
    definitions: dict[str, Any] = {"__name__": f"example_{name}"}
    code = examples()[name][1] if code is None else code
    exec(compile(code, f"docs/integration.md:{name}", "exec"), definitions)
    return definitions


@dataclass
class System:
    """The services on real ports, and how the page's examples reach them."""

    urls: dict[str, str]
    bootstrap: str
    directory: Path
    organisation: str
    tokens: TestIssuer
    receiver_port: int = field(default_factory=free_port)
    variables: dict[str, str] = field(default_factory=dict)

    def code(self, name: str) -> str:
        """An example, pointed at this system (ports, broker) and at an organisation of this
        test's own, so that no other test's events concern it."""
        _, code = examples()[name]
        for service, port in (("commissioning", 8001), ("panel", 8002), ("integration", 8006)):
            code = code.replace(f"localhost:{port}", self.urls[service].removeprefix("http://"))
        code = code.replace("localhost:9092", self.bootstrap)
        code = code.replace("127.0.0.1:9000", f"127.0.0.1:{self.receiver_port}")
        code = code.replace("NC-2026-4502", f"NC-{self.organisation[-8:]}")
        return code.replace(ORGANISATION, self.organisation)

    async def shell(self, name: str) -> Any:
        """Run a shell example with the variables the page says it needs; its JSON answer."""
        assert shutil.which("curl"), "the page's examples need curl"
        process = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", self.code(name),
            env={**os.environ, **self.variables}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, f"example {name} failed: {err.decode()}"
        return json.loads(out)

    async def python(self, name: str) -> str:
        """Run a Python example as a script; what it prints."""
        script = self.directory / f"{name}.py"
        script.write_text(self.code(name), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=self.directory,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, f"example {name} failed: {err.decode()}"
        return out.decode().strip()

    def namespace(self, name: str) -> dict[str, Any]:
        """A Python example's definitions, pointed at this system."""
        return definitions_of(name, self.code(name))


@dataclass
class PageReceiver:
    """The page's receiver, running as a process of its own."""

    process: asyncio.subprocess.Process
    events_file: Path
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read_output(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode().strip())

    def events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines()]

    async def event(self, timeout: float = 60, **wanted: Any) -> dict[str, Any]:
        """The first event handed on whose attributes (or data fields, as `data_<name>`) are
        those wanted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if all((event["data"].get(key[5:]) if key.startswith("data_") else event.get(key))
                       == value for key, value in wanted.items()):
                    return event
            await asyncio.sleep(0.1)
        raise AssertionError(f"no event {wanted} reached the receiver: {self.events()}")


@pytest.fixture
async def system(fresh_database: str, kafka_bootstrap: str, tmp_path: Path,
                 token_issuer: TestIssuer) -> AsyncIterator[System]:
    common: dict[str, Any] = {"database_url": fresh_database, "kafka_bootstrap": kafka_bootstrap,
                              "environment": "test", "consumer_initial_backoff_seconds": 0.01,
                              "consumer_max_attempts": 2, **token_issuer.settings()}
    apps = {
        "commissioning": build_commissioning_app(CommissioningSettings(**common)),
        # The deadline watcher runs at start only: no overdue is recorded while the test runs.
        "panel": build_panel_app(PanelSettings(**common, panel_deadline_check_seconds=3600)),
        "integration": build_integration_app(IntegrationSettings(
            **common, webhook_initial_backoff_seconds=0.2, webhook_max_backoff_seconds=1.0,
            webhook_poll_seconds=0.05)),
    }
    urls: dict[str, str] = {}
    async with (served(apps["commissioning"], free_port()) as urls["commissioning"],
                served(apps["panel"], free_port()) as urls["panel"],
                served(apps["integration"], free_port()) as urls["integration"]):
        organisation = f"{ORGANISATION} {uuid.uuid4().hex[:8]}"
        case_system = token_issuer.token("agency_system", organisation,
                                         f"case-system-{organisation[-8:]}")
        yield System(urls, kafka_bootstrap, tmp_path, organisation, token_issuer,
                     variables={"TOKEN": case_system})


@pytest.fixture
async def page_receiver(system: System) -> AsyncIterator[Any]:
    """Starts the page's receiver once the subscription's secret is known."""
    started: list[PageReceiver] = []

    async def start(secret: str) -> PageReceiver:
        (system.directory / "dhr_signature.py").write_text(system.code("verify"))
        (system.directory / "receiver.py").write_text(system.code("receiver"))
        events_file = system.directory / "dhr-events.jsonl"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "receiver.py", cwd=system.directory,
            env={**os.environ, "DHR_WEBHOOK_SECRET": secret, "PORT": str(system.receiver_port),
                 "DHR_EVENTS_FILE": str(events_file)},
            stdout=asyncio.subprocess.PIPE)
        receiver = PageReceiver(process, events_file)
        receiver.reader = asyncio.create_task(receiver.read_output())
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.process.terminate()
        await receiver.process.wait()


async def test_an_agency_follows_the_integration_page_from_notification_to_replay(
        system: System, page_receiver: Any) -> None:
    organisation = system.organisation
    subscription = await system.shell("subscribe")
    assert subscription["organisation"] == organisation
    system.variables["SUBSCRIPTION_ID"] = subscription["subscription_id"]
    receiver: PageReceiver = await page_receiver(subscription["secret"])

    # Sending: a notification over HTTP, another over Kafka.
    notified = await system.shell("notify")
    review_id = system.variables["REVIEW_ID"] = notified["review_id"]
    assert "dhr.commissioning.NotificationReceived.v1" in notified["events"]
    message_id = await system.python("intake")
    by_kafka = await receiver.event(type="dhr.commissioning.NotificationReceived.v1",
                                    causationid=message_id)
    assert by_kafka["data"]["notifying_agency"] == organisation
    await receiver.event(type="dhr.commissioning.EligibilityAssessed.v1",
                         subject=by_kafka["subject"])

    # The CSP commissions the review and the panel asks the agency for its IMR...
    csp_headers = system.tokens.headers(role="review_manager", organisation="Norfolk",
                                        subject="rm-norfolk")
    async with httpx.AsyncClient(headers=csp_headers) as csp:
        decided = await csp.post(
            f"{system.urls['commissioning']}/reviews/{review_id}/decision-to-commission",
            json={"decided_on": "2026-09-30", "rationale": "Statutory criteria met."})
        assert decided.status_code == 200, decided.text
        deadline = time.monotonic() + 60
        while (await csp.get(f"{system.urls['panel']}/panels/{review_id}")).status_code != 200:
            assert time.monotonic() < deadline, "the panel never opened"
            await asyncio.sleep(0.2)
        asked = await csp.post(f"{system.urls['panel']}/panels/{review_id}/requests", json={
            "kind": "imr", "agency": organisation, "requested_on": "2026-10-01",
            "due_on": "2026-10-29"})
        assert asked.status_code == 201, asked.text
    request_id = asked.json()["request_id"]

    # ...which the agency hears of by webhook, and answers.
    requested = await receiver.event(type="dhr.panel.InformationRequested.v1",
                                     data_request_id=request_id)
    system.variables["REQUEST_ID"] = request_id
    system.variables["EVENT_ID"] = requested["id"]
    submitted = await system.shell("submit")
    assert submitted["events"] == ["dhr.panel.InformationSubmitted.v1"]
    await receiver.event(type="dhr.panel.InformationSubmitted.v1", data_request_id=request_id)

    # Everything of the review came once, in order, signed with the subscription's secret.
    of_review = [e["type"].split(".")[2] for e in receiver.events() if e["subject"] == review_id]
    assert of_review == ["NotificationReceived", "EligibilityAssessed", "ReviewCommissioned",
                         "InformationRequested", "InformationSubmitted"]

    log = await system.shell("log")
    assert {d["event_id"] for d in log["items"]} == {e["id"] for e in receiver.events()}
    assert all(d["status"] == "delivered" and d["attempt_log"][-1]["status_code"] == 204
               for d in log["items"])

    # A replay from the request on: the same events again, recognised by the receiver.
    replay = await system.shell("replay")
    assert replay["deliveries"] >= 2
    async with httpx.AsyncClient(base_url=system.urls["integration"],
                                 headers={"Authorization": f"Bearer {system.variables['TOKEN']}"}
                                 ) as client:
        deadline = time.monotonic() + 60
        while True:
            replayed = (await client.get(replay["location"])).json()["items"]
            if len(replayed) == replay["deliveries"] and all(
                    d["status"] == "delivered" for d in replayed):
                break
            assert time.monotonic() < deadline, replayed
            await asyncio.sleep(0.2)
    assert f"redelivered dhr.panel.InformationRequested.v1 {requested['id']}" in receiver.lines
    assert len(receiver.events()) == len({e["id"] for e in receiver.events()})

    # The same events, read from the public topics by the page's Kafka consumer instead.
    consume = system.namespace("consume")["consume"]
    seen: list[dict[str, Any]] = []

    class Found(Exception):
        pass

    async def handle(event: dict[str, Any]) -> None:
        if event["subject"] == review_id:
            seen.append(event)
            if event["type"] == "dhr.panel.InformationSubmitted.v1":
                raise Found

    with pytest.raises(Found):
        await asyncio.wait_for(consume(system.bootstrap, f"docs-{uuid.uuid4().hex[:8]}", handle),
                               timeout=120)
    by_id = {e["id"]: e for e in seen}
    assert by_id[requested["id"]]["data"]["agency"] == organisation
    assert by_id[requested["id"]]["type"] == requested["type"]
    assert by_id[requested["id"]]["specversion"] == "1.0"


def test_the_page_s_signature_check_accepts_the_service_s_signatures_and_nothing_else() -> None:
    verify = definitions_of("verify")["verify_signature"]
    body = b'{"id":"9b1d","type":"dhr.panel.InformationRequested.v1"}'
    secret, now = "whsec_a", 1_800_000_000
    signed = signature_header(secret, now, body)

    assert verify(secret, signed, body, now=now + 299)
    assert not verify("whsec_b", signed, body, now=now)
    assert not verify(secret, signed, body.replace(b"9b1d", b"9b1e"), now=now)
    assert not verify(secret, signed, body, now=now + 301)
    assert not verify(secret, signed, body, now=now - 301)
    assert verify(secret, f"{signed},v1={'0' * 64}", body, now=now)
    assert not verify(secret, "v1=abc", body, now=now)
    assert not verify(secret, "", body, now=now)
