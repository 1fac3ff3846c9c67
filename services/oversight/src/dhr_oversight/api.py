"""HTTP API of the oversight service: checkpoints, proofs, verifier keys, review histories and
timeliness statistics. Read-only but for asking for a checkpoint now. Who may read what is in
`policy`."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from dhr_oversight import history, policy, statistics, storage
from dhr_oversight.checkpoints import Checkpointer, LedgerTree
from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import SigningKeys
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.http import Problem, problem_responses
from dhr_platform.service import ServiceRuntime

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"
# Tree sizes are PostgreSQL bigints: a larger one can name no checkpoint.
MAX_TREE_SIZE = 2**63 - 1
NOTE = {"text/plain": {"schema": {"type": "string"}}}


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@dataclass
class OversightApi:
    """The handlers' dependencies, given by the composition root (the pool is looked up per
    request: routes are declared before the runtime connects)."""

    runtime: ServiceRuntime
    settings: OversightSettings
    tree: LedgerTree
    checkpointer: Checkpointer
    keys: SigningKeys
    clock: Clock


def _note(checkpoint: storage.StoredCheckpoint, status: int = 200) -> Response:
    return PlainTextResponse(checkpoint.note, status_code=status, media_type=NOTE_MEDIA_TYPE,
                             headers={"X-Tree-Size": str(checkpoint.size)})


def build_router(api: OversightApi) -> APIRouter:
    router = APIRouter()

    @router.post("/checkpoints", status_code=201, response_class=PlainTextResponse,
                 summary="Sign a checkpoint of the ledger now (the existing one if it has not grown)",
                 responses={201: {"description": "A new checkpoint, signed now"},
                            200: {"description": "The ledger has not grown: the latest "
                                  "checkpoint", "content": NOTE}},
                 dependencies=[policy.PERMISSIONS.requires(policy.ISSUE_CHECKPOINT)])
    async def issue_checkpoint() -> Response:
        latest_before = await _latest(api)
        checkpoint = await api.checkpointer.issue(api.runtime.pool)
        assert checkpoint is not None
        try:
            await api.checkpointer.publish_pending(api.runtime.pool)
        except Exception:  # the background task publishes it at its next round
            log.warning("checkpoint of size %d not published yet", checkpoint.size, exc_info=True)
        fresh = latest_before is None or latest_before.size != checkpoint.size
        return _note(checkpoint, 201 if fresh else 200)

    @router.get("/checkpoints/latest", response_class=PlainTextResponse,
                summary="The latest signed checkpoint (a C2SP signed note)",
                responses=problem_responses({404: "No checkpoint has been issued yet"}),
                dependencies=[policy.PERMISSIONS.requires(policy.VERIFY_LEDGER)])
    async def latest_checkpoint() -> Response:
        checkpoint = await _latest(api)
        if checkpoint is None:
            raise Problem(404, "No checkpoint has been issued yet.")
        return _note(checkpoint)

    @router.get("/checkpoints/{size}", response_class=PlainTextResponse,
                summary="The signed checkpoint of a given tree size",
                dependencies=[policy.PERMISSIONS.requires(policy.VERIFY_LEDGER)])
    async def checkpoint_of_size(size: Annotated[int, Path(ge=0, le=MAX_TREE_SIZE)]) -> Response:
        async with api.runtime.pool.acquire() as connection:
            checkpoint = await storage.checkpoint_of_size(connection, size)
        if checkpoint is None:
            raise Problem(404, f"No checkpoint of size {size} was issued.", field="size")
        return _note(checkpoint)

    @router.get("/proofs/inclusion", summary="Proof that an event is in the tree of a given size",
                responses=problem_responses({
                    404: "The event is not in the ledger",
                    409: "The event is not yet under a checkpoint"}),
                dependencies=[policy.PERMISSIONS.requires(policy.READ_EVENTS)])
    async def inclusion_proof(
        event_id: Annotated[UUID, Query(description="The event's CloudEvents id.")],
        size: Annotated[int | None, Query(ge=1, le=MAX_TREE_SIZE,
                                          description="Tree size; the latest checkpoint's "
                                          "by default.")] = None,
    ) -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            entry = await storage.entry_by_event_id(connection, event_id)
            if entry is None:
                raise Problem(404, f"Event {event_id} is not in the ledger.", field="event_id")
            tree = await api.tree.sync(connection)
            if size is None:
                latest = await storage.latest_checkpoint(connection)
                if latest is None or latest.size <= entry.index:
                    raise Problem(409, f"Event {event_id} (index {entry.index}) is not yet under "
                                  "a checkpoint; POST /checkpoints first.", field="size")
                size = latest.size
            if size > tree.size:
                raise Problem(422, f"The tree has {tree.size} entries, fewer than {size}.",
                              field="size")
            if entry.index >= size:
                raise Problem(422, f"Event {event_id} has index {entry.index}: not in a tree of "
                              f"size {size}.", field="size")
            proof = tree.inclusion_proof(entry.index, size)
            checkpoint = await storage.checkpoint_of_size(connection, size)
        return {
            "event_id": str(event_id),
            "index": entry.index,
            "tree_size": size,
            "leaf_hash": b64(entry.leaf_hash),
            "leaf_data": b64(entry.leaf_data),
            "proof": [b64(node) for node in proof],
            "root": b64(tree.root(size)),
            "checkpoint": None if checkpoint is None else checkpoint.note,
        }

    @router.get("/proofs/consistency", summary="Proof that one tree size extends another",
                responses=problem_responses({409: "No checkpoint has been issued yet"}),
                dependencies=[policy.PERMISSIONS.requires(policy.VERIFY_LEDGER)])
    async def consistency_proof(
        old_size: Annotated[int, Query(alias="from", ge=1, le=MAX_TREE_SIZE,
                                       description="The earlier tree size.")],
        new_size: Annotated[int | None, Query(alias="to", ge=1, le=MAX_TREE_SIZE,
                                              description="The later tree size; "
                                              "the latest checkpoint's by default.")] = None,
    ) -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            tree = await api.tree.sync(connection)
            if new_size is None:
                latest = await storage.latest_checkpoint(connection)
                if latest is None:
                    raise Problem(409, "No checkpoint has been issued yet.", field="to")
                new_size = latest.size
        if new_size > tree.size:
            raise Problem(422, f"The tree has {tree.size} entries, fewer than {new_size}.",
                          field="to")
        if old_size > new_size:
            raise Problem(422, f"from ({old_size}) is larger than to ({new_size}).", field="from")
        return {
            "from": old_size,
            "to": new_size,
            "from_root": b64(tree.root(old_size)),
            "to_root": b64(tree.root(new_size)),
            "proof": [b64(node) for node in tree.consistency_proof(old_size, new_size)],
        }

    @router.get("/keys", response_class=PlainTextResponse,
                summary="The verifier keys of the checkpoints' signers, oldest first, one a line",
                dependencies=[policy.PERMISSIONS.requires(policy.VERIFY_LEDGER)])
    async def verifier_keys() -> Response:
        return PlainTextResponse(api.keys.verifier_keys_text(), media_type=NOTE_MEDIA_TYPE)

    @router.get("/ledger", summary="The ledger's size and latest checkpoint size",
                dependencies=[policy.PERMISSIONS.requires(policy.VERIFY_LEDGER)])
    async def ledger_status() -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            tree = await api.tree.sync(connection)
            latest = await storage.latest_checkpoint(connection)
        return {"origin": api.settings.oversight_origin, "size": tree.size,
                "latest_checkpoint_size": None if latest is None else latest.size}

    @router.get("/reviews/{review_id}/history",
                summary="The complete, ordered history of one review across every service",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_REVIEW_HISTORY)])
    async def review_history(
        principal: CurrentPrincipal,
        review_id: Annotated[str, Path(min_length=1, max_length=200)],
        show_personal: Annotated[bool, Query(description="Show personal fields instead of "
                                             f"{history.PERSONAL!r}.")] = False,
    ) -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            area = await connection.fetchval(
                "SELECT csp_area FROM review_areas WHERE review_id = $1", review_id)
            visible = policy.may_read_history(principal, area)
            entries = await storage.entries_of_review(connection, review_id) if visible else []
        events = history.ordered(
            history.HistoryEvent.from_cloudevent(entry.event(), entry.topic) for entry in entries)
        if not events:  # also for a review the caller may not see: the same answer
            raise Problem(404, "No event of this review is in the ledger.",
                          field="review_id")
        return history.history_json(review_id, events, show_personal=show_personal)

    @router.get("/statistics/timeliness",
                summary="Statutory timeliness per CSP area and nationally (JSON or CSV)",
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
                dependencies=[policy.PERMISSIONS.requires(policy.READ_TIMELINESS)])
    async def timeliness(
        area: Annotated[str | None, Query(min_length=1, max_length=200,
                                          description="Only this CSP area (and national).")] = None,
        format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
    ) -> Any:
        report = await timeliness_report(api, area)
        if format == "csv":
            return Response(report.to_csv(), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition":
                                     'attachment; filename="timeliness.csv"'})
        return report.as_json()

    return router


async def _latest(api: OversightApi) -> storage.StoredCheckpoint | None:
    async with api.runtime.pool.acquire() as connection:
        return await storage.latest_checkpoint(connection)


async def timeliness_report(api: OversightApi, area: str | None) -> statistics.TimelinessReport:
    async with api.runtime.pool.acquire() as connection:
        entries = await storage.entries_of_types(
            connection, statistics.COMMISSIONING_TYPES, statistics.RECOMMENDATIONS_OVERDUE_PATTERN)
    return statistics.timeliness((entry.event() for entry in entries), api.clock().date(), area)
