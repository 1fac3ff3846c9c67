"""Hostile input against every operation of every service, running on the real PostgreSQL server
and Kafka broker: bodies that are not acceptable JSON (nested without end, not UTF-8, a NUL
character, a lone surrogate, over the size limit), values too large for any field, SQL and script
injection in every kind of field (body, path, query, header), and tokens that are forged,
unsigned, signed with the public key as an HMAC secret, expired or signed by another key.

Every refusal is a 4xx `application/problem+json` that stores nothing (no event, so nothing in
the outbox, which is the event table; no idempotency key; no other row the API writes) and leaks
nothing: it never repeats the hostile value as sent, and has no stack trace and no SQL. What a
service accepts as free text is kept as inert data: read back as the same JSON string, with every
table still there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
import schemathesis
from commissioning_support import notification
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case
from service_apps import SERVICES, ServiceUnderTest, running_service

from dhr_local.postgres import create_database, drop_database
from dhr_platform.dev_issuer import DevelopmentIssuer, public_jwk
from support.tokens import TEST_AUDIENCE, TEST_ISSUER, TestIssuer

INJECTIONS = [
    "'; DROP TABLE events; --",
    "x' OR '1'='1",
    "1); DELETE FROM idempotency_keys WHERE ('1'='1",
    "$$; SELECT pg_sleep(10); $$",
    "<script>alert('dhr')</script>",
    '"><img src=x onerror=alert(document.cookie)>',
    "{{7*7}} ${7*7} #{7*7}",
    "!&|():* <-> \\ % _ ;--",
    "../../../../etc/passwd",
]
HUGE_TEXT = "A" * 50_000  # within the body limit, beyond any field's
HUGE_INTEGERS = [10**30, -(10**30), 2**63]
# No answer shows how the service is built; a refusal shows no SQL either (an answer may hold
# SQL-like text a caller stored or searched for, as data).
INTERNALS = re.compile(r"Traceback|File \"/|site-packages|asyncpg|psycopg|sqlstate|"
                       r"syntax error at", re.IGNORECASE)
SQL = re.compile(r"\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b", re.IGNORECASE)


# --- the service under test, once per service for the whole module -----------------------------


@pytest.fixture(scope="module", params=SERVICES)
async def service(request: pytest.FixtureRequest, database_url: str, kafka_bootstrap: str,
                  token_issuer: TestIssuer) -> AsyncIterator[ServiceUnderTest]:
    name = f"test_hostile_{uuid.uuid4().hex[:12]}"
    url = create_database(database_url, name)
    try:
        async with running_service(request.param, url, kafka_bootstrap,
                                   token_issuer) as running:
            yield running
    finally:
        drop_database(database_url, name)


def operations(service: ServiceUnderTest, *, with_body: bool = False) -> list[APIOperation]:
    schema = schemathesis.openapi.from_dict(service.document())
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.body or not with_body]


def url_of(service: ServiceUnderTest, operation: APIOperation,
           **values: str) -> str:
    """The operation's path with objects that exist (or made-up ids) and `values`."""
    def value(match: re.Match[str]) -> str:
        name = match[1]
        chosen = values.get(name) or service.known.get(name) or str(uuid.uuid4())
        return quote(chosen, safe="")

    return re.sub(r"\{(\w+)\}", value, operation.path)


def valid_body(service: ServiceUnderTest, operation: APIOperation) -> Any:
    """One body that fits the operation's schema (generated, the same each run)."""
    named = {p.name: service.known[p.name] for p in operation.path_parameters
             if p.name in service.known}
    bodies: list[Any] = []

    @settings(max_examples=1, database=None, derandomize=True, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(path_parameters=named or None))
    def first(case: Case) -> None:
        bodies.append(case.body)

    first()
    return bodies[0]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value in a JSON document, with its path (objects and arrays too)."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def assert_refused_without_leaking(response: httpx.Response, *hostile: str,
                                   statuses: range = range(400, 500)) -> None:
    """A 4xx problem that repeats none of `hostile` as sent and shows no internals."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code in statuses, (where, response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json", where
    problem = response.json()
    assert problem["status"] == response.status_code and problem["title"] and problem["detail"]
    assert_nothing_leaks(response, *hostile)
    assert not SQL.search(response.text), (where, response.text[:500])


def assert_nothing_leaks(response: httpx.Response, *hostile: str) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    text = response.text
    for value in hostile:
        sample = value[:200]
        assert sample not in text and json.dumps(sample)[1:-1] not in text, (where, value, text)
    assert not INTERNALS.search(text), (where, text[:500])


# --- bodies that are not acceptable JSON --------------------------------------------------------

UNREADABLE_BODIES = {
    "nested arrays": ("[" * 30_000 + "]" * 30_000).encode(),
    "nested objects": ('{"a":' * 8_000 + "1" + "}" * 8_000).encode(),
    "nested just past the limit": ('{"a":' * 40 + "1" + "}" * 40).encode(),
    "not UTF-8": b'{"text": "caf\xe9 \xff\xfe"}',
    "a NUL character": b'{"text": "before\\u0000after"}',
    "a lone surrogate": b'{"text": "\\ud800"}',
    "not JSON": b'{"text": "unterminated',
    "a number beyond any float": b'{"number": 1e999999}',
}


async def test_bodies_that_are_not_acceptable_json_get_a_problem_and_store_nothing(
        service: ServiceUnderTest) -> None:
    before = await service.stored()
    for operation in operations(service, with_body=True):
        headers = {**service.caller_of(operation.method, operation.path),
                   "Content-Type": "application/json"}
        url = url_of(service, operation)
        for body in UNREADABLE_BODIES.values():
            response = await service.client.request(operation.method, url, content=body,
                                                    headers=headers)
            assert_refused_without_leaking(response, "before\x00after", "[[[[[", '{"a":{"a":')
        oversized = json.dumps({"text": HUGE_TEXT * 2}).encode()
        response = await service.client.request(operation.method, url, content=oversized,
                                                headers=headers)
        assert_refused_without_leaking(response, HUGE_TEXT[:100], statuses=range(413, 414))

    assert await service.stored() == before


async def test_a_nul_character_in_the_path_or_query_is_refused_before_any_route(
        service: ServiceUnderTest) -> None:
    before = await service.stored()
    for operation in operations(service):
        headers = service.caller_of(operation.method, operation.path)
        names = [p.name for p in operation.path_parameters]
        if names:
            url = url_of(service, operation, **{names[0]: "x\x00y"})
            response = await service.client.request(operation.method, url, headers=headers)
            assert_refused_without_leaking(response, "x\x00y")
        for parameter in operation.query:
            response = await service.client.request(
                operation.method, url_of(service, operation), headers=headers,
                params={parameter.name: "a\x00b"})
            assert_refused_without_leaking(response, "a\x00b", statuses=range(400, 401))

    assert await service.stored() == before


# --- values too large for any field -------------------------------------------------------------


async def test_values_too_large_for_any_field_are_refused_and_store_nothing(
        service: ServiceUnderTest) -> None:
    before = await service.stored()
    for operation in operations(service, with_body=True):
        headers = service.caller_of(operation.method, operation.path)
        url = url_of(service, operation)
        body = valid_body(service, operation)
        for path, value in leaves(body):
            if isinstance(value, str):
                oversized: list[Any] = [HUGE_TEXT]
            elif isinstance(value, list):
                oversized = [[value[0] if value else "x"] * 10_000]
            elif isinstance(value, int) and not isinstance(value, bool):
                oversized = HUGE_INTEGERS
            else:
                continue
            for too_large in oversized:
                response = await service.client.request(
                    operation.method, url, json=replaced(body, path, too_large), headers=headers)
                assert_refused_without_leaking(response, HUGE_TEXT[:100], str(too_large)[:200])

    assert await service.stored() == before


# --- injection in every kind of field -----------------------------------------------------------


async def test_injection_in_any_body_field_is_refused_without_echo_or_kept_as_inert_data(
        service: ServiceUnderTest) -> None:
    tables = await service.tables()
    for operation in operations(service, with_body=True):
        headers = service.caller_of(operation.method, operation.path)
        url = url_of(service, operation)
        body = valid_body(service, operation)
        if isinstance(body, dict):
            for injection in INJECTIONS:  # as the name of a field
                response = await service.client.request(
                    operation.method, url, json={**body, injection: "x"}, headers=headers)
                assert_refused_without_leaking(response, injection)
        for path, value in leaves(body):
            if not path or isinstance(value, dict | list):
                continue
            for injection in INJECTIONS:
                before = await service.stored()
                response = await service.client.request(
                    operation.method, url, json=replaced(body, path, injection), headers=headers)
                if response.is_success:
                    assert response.headers["content-type"] == "application/json"
                    assert_nothing_leaks(response)
                else:
                    assert_refused_without_leaking(response, injection)
                    assert await service.stored() == before, (operation.path, path, injection)
    assert await service.tables() == tables


async def test_injection_in_the_path_query_and_headers_is_refused_without_echo_or_inert(
        service: ServiceUnderTest) -> None:
    tables = await service.tables()
    before = await service.stored()
    for operation in operations(service):
        headers = service.caller_of(operation.method, operation.path)
        body = valid_body(service, operation) if operation.body else None
        for injection in INJECTIONS:
            for parameter in operation.path_parameters:
                url = url_of(service, operation, **{parameter.name: injection})
                response = await service.client.request(operation.method, url, json=body,
                                                        headers=headers)
                assert_refused_without_leaking(response, injection)
            for parameter in operation.query:
                response = await service.client.request(
                    operation.method, url_of(service, operation), json=body, headers=headers,
                    params={parameter.name: injection})
                assert response.status_code < 500, (operation.path, parameter.name, injection)
                if response.is_success:
                    assert_nothing_leaks(response)
                else:
                    assert_refused_without_leaking(response, injection)
            for header in ("If-Match", "X-Correlation-Id"):
                if any(p.name == header for p in operation.headers):
                    response = await service.client.request(
                        operation.method, url_of(service, operation), json=body,
                        headers={**headers, header: injection})
                    assert_refused_without_leaking(response, injection)
    assert await service.stored() == before
    assert await service.tables() == tables


# A command per service whose free text takes any string, and where it is read back; `{text}`
# stands for the string, `{review_id}` and the like for objects made beforehand.
FREE_TEXT = {
    "commissioning": ("/reviews", {**notification(), "notifying_agency": "{text}"},
                      "/reviews/{review_id}/events"),
    "panel": ("/panels/{review_id}/meetings", {"scheduled_for": "2026-03-10", "agenda": ["{text}"]},
              "/panels/{review_id}/events"),
    "learning": ("/reviews/{review_id}/learning-points",
                 {"recorded_on": "2026-03-20", "summary": "{text}",
                  "themes": ["identification_of_risk"]}, "/reviews/{review_id}/learning"),
    "recommendations": ("/recommendations", {
        "review_id": "{review_id}", "csp_area": "Norfolk", "issued_on": "2026-03-02",
        "text": "Norfolk Constabulary to train every call handler in coercive control by 30 "
                "September 2026: {text}", "level": "local", "themes": ["training"],
        "addressees": [{"name": "Norfolk Constabulary"}]}, "/recommendations/{recommendation_id}"),
    "integration": ("/webhook-subscriptions", {
        "url": "https://cases.norfolk-constabulary.example/dhr", "kinds": ["deadlines"],
        "description": "{text}"}, "/webhook-subscriptions/{subscription_id}"),
}


def filled(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda match: values[match[1]], template)
    if isinstance(template, dict):
        return {key: filled(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [filled(item, values) for item in template]
    return template


def strings_in(answer: Any) -> set[str]:
    return {value for _, value in leaves(answer) if isinstance(value, str)}


def ids_in_answer(answer: Any) -> dict[str, str]:
    """The ids a command's answer gives (`review_id`, `recommendation_id`...)."""
    return {key: value for path, value in leaves(answer) if path
            for key in [path[-1]] if isinstance(key, str) and key.endswith("_id")
            and isinstance(value, str)}


async def test_injection_accepted_as_free_text_is_kept_and_read_back_as_the_same_json_string(
        service: ServiceUnderTest) -> None:
    if service.name not in FREE_TEXT:
        pytest.skip("the oversight service takes no free text")
    path, body, read = FREE_TEXT[service.name]
    tables, before = await service.tables(), await service.stored()
    for injection in INJECTIONS:
        values = {**service.known, "text": injection}
        sent = filled(body, values)
        answer = await service.client.post(filled(path, values), json=sent,
                                           headers=service.caller_of("POST", path))
        assert answer.status_code in (200, 201), (injection, answer.text)
        values.update(ids_in_answer(answer.json()))
        shown = await service.client.get(filled(read, values),
                                         headers=service.caller_of("GET", read))
        assert shown.status_code == 200, shown.text
        assert shown.headers["content-type"] == "application/json"
        expected = {value for value in strings_in(sent) if injection in value}
        assert expected <= strings_in(shown.json()), (injection, shown.text[:1000])
        assert_nothing_leaks(shown)
    after = await service.stored()
    assert await service.tables() == tables
    assert all(after[table] >= before[table] for table in after), (before, after)  # no DELETE


async def test_a_hostile_idempotency_key_is_kept_as_inert_data_and_never_repeated(
        service: ServiceUnderTest) -> None:
    if service.name not in FREE_TEXT:
        pytest.skip("the oversight service has no command that takes an Idempotency-Key")
    path, body, _ = FREE_TEXT[service.name]
    headers = service.caller_of("POST", path)
    for number, injection in enumerate(INJECTIONS):
        values = {**service.known, "text": f"Idempotent command {number}"}
        sent, url = filled(body, values), filled(path, values)
        key = {**headers, "Idempotency-Key": injection}
        first = await service.client.post(url, json=sent, headers=key)
        assert first.status_code in (200, 201), first.text
        again = await service.client.post(url, json=sent, headers=key)
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        assert again.headers["idempotent-replayed"] == "true"
        before = await service.stored()
        other = await service.client.post(url, json=filled(body, {**values, "text": "Other"}),
                                          headers=key)
        assert_refused_without_leaking(other, injection, statuses=range(422, 423))
        assert other.json()["title"] == "Idempotency key reused"
        assert await service.stored() == before


# --- tokens that must not open anything ---------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def refused_tokens(tokens: TestIssuer, tmp_path: Path) -> dict[str, str]:
    """Tokens that claim an admin's and a review manager's rights but must open nothing."""
    issuer = tokens.issuer
    claims = issuer.claims(role="review_manager", organisation="Norfolk", subject="rm-norfolk")
    header, payload, signature = issuer.sign(claims).split(".")
    forged_claims = {**claims, "roles": ["admin", "review_manager", "oversight_reader"]}
    forged_payload = b64url(json.dumps(forged_claims).encode())
    unsigned_header = b64url(json.dumps({"alg": "none", "typ": "JWT",
                                         "kid": issuer.key_id}).encode())
    hmac_header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.key_id}).encode())
    public = issuer.private_key.public_key()
    stranger = DevelopmentIssuer.load_or_create(tmp_path / "stranger", issuer=TEST_ISSUER,
                                                audience=TEST_AUDIENCE)
    found = {
        "payload changed": f"{header}.{forged_payload}.{signature}",
        "signature changed": f"{header}.{payload}.{signature[:-6]}AAAAAA",
        "alg none": f"{unsigned_header}.{forged_payload}.",
        "expired": issuer.sign({**claims, "exp": claims["iat"] - 600, "nbf": claims["iat"] - 900,
                                "iat": claims["iat"] - 900}),
        "not yet valid": issuer.sign({**claims, "nbf": claims["iat"] + 3600}),
        "another issuer": issuer.sign({**claims, "iss": "urn:elsewhere"}),
        "another audience": issuer.sign({**claims, "aud": "another-service"}),
        "another key, its own key id": stranger.sign(claims),
        "another key, our key id": jwt.encode(claims, stranger.private_key, algorithm="EdDSA",
                                              headers={"kid": issuer.key_id}),
        "a key id that injects": issuer.sign(claims, headers={"kid": INJECTIONS[0]}),
        "not a JWT": INJECTIONS[1],
    }
    for label, secret in {
        "PEM": public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "raw": public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        "JWK": json.dumps(public_jwk(issuer.private_key)).encode(),
    }.items():
        mac = hmac.new(secret, f"{hmac_header}.{forged_payload}".encode(), hashlib.sha256)
        found[f"HS256 keyed with the public key ({label})"] = (
            f"{hmac_header}.{forged_payload}.{b64url(mac.digest())}")
    return found


async def test_forged_expired_and_foreign_tokens_get_a_401_problem_and_store_nothing(
        service: ServiceUnderTest, tmp_path: Path) -> None:
    before = await service.stored()
    tokens = refused_tokens(service.tokens, tmp_path)
    for operation in operations(service):
        if operation.path in {"/healthz", "/readyz", "/metrics"}:
            continue
        url = url_of(service, operation)
        body = valid_body(service, operation) if operation.body else None
        for label, token in tokens.items():
            response = await service.client.request(
                operation.method, url, json=body, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (label, operation.path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer ")
            assert_refused_without_leaking(response, token, *token.split(".")[:2], INJECTIONS[0])
    assert await service.stored() == before
