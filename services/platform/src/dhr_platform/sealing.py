"""Personal data sealed with a data key per review (envelope encryption), and crypto-shredding.

Every value of a field its contract marks personal (`dhr_contracts.base.personal`) is sealed
when its event is appended: AES-256-GCM under the review's data key, written as
`dhr-sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, with the prefix and key id as
associated data. Events, read models (folded from sealed events), idempotent replies and Kafka
records therefore hold only sealed values; a response opens them for a caller allowed to see
them (`dhr_platform.disclosure`).

The data keys are in one table shared by the services, `keyring.data_keys`, wrapped (AES-256-GCM)
by a key-encryption key from configuration; the review id and key id are the wrapping's
associated data, so a wrapped key cannot be moved to another review. Erasing a review destroys
its wrapped key: from then on its values cannot be opened anywhere, and no new value is sealed
for it. Rotating the key-encryption key: configure the new one and keep the old one among the
previous keys; keys are unwrapped by the id of the key that wrapped them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dhr_contracts.base import SEALED_PREFIX, is_sealed
from dhr_contracts.registry import EVENT_TYPES

if TYPE_CHECKING:  # the database module reads the settings, which read this module
    from dhr_platform.database import Connection

NONCE_BYTES = 12
KEY_BYTES = 32
ERASED = "[erased]"
"""What a sealed value reads as once its review's data key is erased."""
WITHHELD = "[withheld]"
"""What a sealed value reads as for a caller not allowed its plaintext (or without a purpose)."""

DEVELOPMENT_KEK = base64.b64encode(hashlib.sha256(b"dhr development key-encryption key").digest())
"""The key-encryption key of development and tests; refused in any other environment."""


class PersonalDataErased(Exception):
    """The review's personal data was erased: nothing personal can be recorded for it again."""

    def __init__(self, review_id: str):
        self.review_id = review_id
        super().__init__(f"The personal data of review {review_id} was erased; "
                         "personal details can no longer be recorded for it.")


class KeyringError(Exception):
    """A data key that cannot be unwrapped: the key-encryption key it names is not configured."""


def decode_key(text: str | bytes, name: str) -> bytes:
    """A 256-bit key from its base64 text (standard or URL-safe alphabet)."""
    raw = text.strip() if isinstance(text, bytes) else text.strip().encode()
    try:
        key = base64.b64decode(raw.replace(b"-", b"+").replace(b"_", b"/") + b"==")
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{name} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return key


class KeyEncryptionKeys:
    """The key that wraps new data keys, and the previous ones that still unwrap old keys."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()):
        self.current_id = self.id_of(current)
        self._keys = {self.id_of(key): AESGCM(key) for key in (*previous, current)}

    @staticmethod
    def id_of(key: bytes) -> str:
        """A key's id: the first 8 bytes of its SHA-256, in hex (not secret, not reversible)."""
        return hashlib.sha256(key).hexdigest()[:16]

    @staticmethod
    def _context(review_id: str, key_id: UUID) -> bytes:
        return b"dhr-data-key:v1:" + key_id.bytes + review_id.encode()

    def wrap(self, review_id: str, key_id: UUID, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._keys[self.current_id].encrypt(
            nonce, data_key, self._context(review_id, key_id))

    def unwrap(self, kek_id: str, review_id: str, key_id: UUID, wrapped: bytes) -> bytes:
        aead = self._keys.get(kek_id)
        if aead is None:
            raise KeyringError(f"data key {key_id} is wrapped by key-encryption key {kek_id}, "
                               "which is not configured (DHR_PERSONAL_DATA_PREVIOUS_KEKS)")
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                self._context(review_id, key_id))
        except InvalidTag:
            raise KeyringError(f"data key {key_id} does not unwrap: it was altered or moved "
                               "to another review") from None


@dataclass(frozen=True)
class DataKey:
    """One review's data key, unwrapped."""

    key_id: UUID
    review_id: str
    key: bytes

    @property
    def _associated(self) -> bytes:
        return f"{SEALED_PREFIX}{self.key_id.hex}".encode()

    def seal(self, plaintext: str) -> str:
        # A synthetic nonce (HMAC of the plaintext under the key): one value seals the same
        # way each time within its review, so a decider can tell a value sent again from a
        # new one; two different values never share a nonce.
        data = plaintext.encode()
        nonce = hmac.digest(self.key, b"dhr-sealed-nonce:v1:" + data, "sha256")[:NONCE_BYTES]
        box = nonce + AESGCM(self.key).encrypt(nonce, data, self._associated)
        text = base64.urlsafe_b64encode(box).rstrip(b"=").decode()
        return f"{SEALED_PREFIX}{self.key_id.hex}:{text}"

    def open(self, sealed: str) -> str:
        box = _box_of(sealed)
        try:
            plaintext = AESGCM(self.key).decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:],
                                                 self._associated)
        except InvalidTag:
            raise ValueError("a sealed value does not open with its review's key") from None
        return plaintext.decode()


def key_id_of(sealed: str) -> UUID | None:
    """The data key id a sealed value names (None when it is not well formed)."""
    head = sealed[len(SEALED_PREFIX):len(SEALED_PREFIX) + 32]
    try:
        return UUID(hex=head)
    except ValueError:
        return None


def _box_of(sealed: str) -> bytes:
    text = sealed[len(SEALED_PREFIX) + 33:]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Keyring:
    """The review data keys in `keyring.data_keys`, wrapped by the key-encryption keys."""

    def __init__(self, keks: KeyEncryptionKeys):
        self.keks = keks

    async def sealing_key(self, connection: Connection, review_id: str) -> DataKey:
        """The review's data key, made on first use (inside the caller's transaction, so a key
        and the first value sealed with it commit together). Raises PersonalDataErased."""
        row = await connection.fetchrow(
            "SELECT key_id, kek_id, wrapped_key, erased_at FROM keyring.data_keys"
            " WHERE review_id = $1", review_id)
        if row is None:
            key_id, key = uuid4(), AESGCM.generate_key(bit_length=256)
            await connection.execute(
                """INSERT INTO keyring.data_keys (review_id, key_id, kek_id, wrapped_key)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (review_id) DO NOTHING""",
                review_id, key_id, self.keks.current_id, self.keks.wrap(review_id, key_id, key))
            row = await connection.fetchrow(
                "SELECT key_id, kek_id, wrapped_key, erased_at FROM keyring.data_keys"
                " WHERE review_id = $1", review_id)
            assert row is not None
        if row["erased_at"] is not None:
            raise PersonalDataErased(review_id)
        return DataKey(row["key_id"], review_id, self.keks.unwrap(
            row["kek_id"], review_id, row["key_id"], row["wrapped_key"]))

    async def opening_keys(self, executor: Connection | asyncpg.Pool, key_ids: Collection[UUID]
                           ) -> dict[UUID, DataKey | None]:
        """The data keys of `key_ids` that still exist; None for each erased one (an id the
        keyring does not know is left out)."""
        if not key_ids:
            return {}
        rows = await executor.fetch(
            "SELECT review_id, key_id, kek_id, wrapped_key FROM keyring.data_keys"
            " WHERE key_id = ANY($1::uuid[])", list(key_ids))
        return {row["key_id"]: None if row["wrapped_key"] is None else DataKey(
                    row["key_id"], row["review_id"], self.keks.unwrap(
                        row["kek_id"], row["review_id"], row["key_id"], row["wrapped_key"]))
                for row in rows}

    async def erase(self, connection: Connection, review_id: str, *, actor: str,
                    reason: str) -> UUID | None:
        """Destroy the review's data key (or, when it never had one, forbid one): answer the id
        of the key destroyed. Raises PersonalDataErased when it was erased already."""
        row = await connection.fetchrow(
            """INSERT INTO keyring.data_keys (review_id, key_id, kek_id, wrapped_key, erased_at,
                                              erased_by, erasure_reason)
               VALUES ($1, $2, NULL, NULL, now(), $3, $4)
               ON CONFLICT (review_id) DO UPDATE
                  SET wrapped_key = NULL, kek_id = NULL, erased_at = now(),
                      erased_by = EXCLUDED.erased_by, erasure_reason = EXCLUDED.erasure_reason
                WHERE keyring.data_keys.erased_at IS NULL
               RETURNING key_id, (xmax <> 0) AS existed""",
            review_id, uuid4(), actor, reason)
        if row is None:
            raise PersonalDataErased(review_id)
        key_id: UUID = row["key_id"]
        return key_id if row["existed"] else None


def personal_fields_of(event_type: str) -> frozenset[str]:
    model = EVENT_TYPES.get(event_type)
    return frozenset() if model is None else model.personal_fields()


def needs_sealing(event_type: str, data: Mapping[str, Any]) -> bool:
    """Whether an event holds a personal value in plaintext."""
    return any(isinstance(data.get(name), str) and not is_sealed(data[name])
               for name in personal_fields_of(event_type))


def data_key_ids(event_type: str, data: Mapping[str, Any]) -> set[UUID]:
    """The data keys that sealed an event's personal values (only personal fields hold them)."""
    found = set()
    for name in personal_fields_of(event_type):
        value = data.get(name)
        if isinstance(value, str) and is_sealed(value) and (key_id := key_id_of(value)):
            found.add(key_id)
    return found


def seal_data(event_type: str, data: Mapping[str, Any], key: DataKey) -> dict[str, Any]:
    """The event data with every plaintext personal value sealed (sealed ones kept as they are:
    a decider may copy a value from its state into a new event)."""
    fields = personal_fields_of(event_type)
    return {name: key.seal(value) if name in fields and isinstance(value, str)
            and not is_sealed(value) else value
            for name, value in data.items()}


def sealed_values(document: Any) -> Iterable[str]:
    """Every sealed value anywhere in a JSON document."""
    if isinstance(document, str):
        if is_sealed(document):
            yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from sealed_values(value)
    elif isinstance(document, list):
        for value in document:
            yield from sealed_values(value)


def replace_sealed(document: Any, opened: Mapping[str, str]) -> Any:
    """The document with each sealed value replaced by what `opened` gives for it."""
    if isinstance(document, str):
        return opened.get(document, document) if is_sealed(document) else document
    if isinstance(document, dict):
        return {name: replace_sealed(value, opened) for name, value in document.items()}
    if isinstance(document, list):
        return [replace_sealed(value, opened) for value in document]
    return document
