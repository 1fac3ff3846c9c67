"""Writing an audit-export bundle: a directory an oversight body verifies without our code.

The layout is specified byte for byte in docs/audit-export.md. File I/O only: the events and the
proofs come from the caller (the ledger storage of the service), never from a database here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from dhr_oversight.ledger import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    canonical_json,
    leaf_hash,
    open_checkpoint,
)

FORMAT = "dhr-audit-export"
FORMAT_VERSION = 1

MANIFEST_FILE = "manifest.json"
MANIFEST_SIGNATURE_FILE = "manifest-signature.txt"
EVENTS_FILE = "events.jsonl"
CHECKPOINT_FILE = "checkpoint.txt"
VERIFIER_KEYS_FILE = "verifier-keys.txt"
INCLUSION_PROOFS_FILE = "inclusion-proofs.jsonl"
LEAF_HASHES_FILE = "leaf-hashes.bin"
EARLIER_CHECKPOINT_FILE = "earlier-checkpoint.txt"
CONSISTENCY_PROOF_FILE = "consistency-proof.json"

Scope = Literal["full", "partial"]

_BUFFER = 1 << 20


class BundleError(ValueError):
    """The bundle cannot be written as asked (the events, proofs or checkpoints do not agree)."""


class ProofSource(Protocol):
    """What the writer needs of the ledger: `MerkleTree` is one."""

    @property
    def size(self) -> int: ...

    def leaf_hash(self, index: int) -> bytes: ...

    def root(self, size: int | None = None) -> bytes: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...


@dataclass(frozen=True)
class BundleSummary:
    """What was written."""

    directory: Path
    scope: Scope
    tree_size: int
    event_count: int
    earlier_tree_size: int | None


def manifest_signature_body(origin: str, manifest: bytes) -> bytes:
    """The signed-note body attesting a manifest: its origin, then `manifest sha256 <hex>`."""
    return f"{origin}\nmanifest sha256 {hashlib.sha256(manifest).hexdigest()}\n".encode()


def _b64(hash_: bytes) -> str:
    return base64.b64encode(hash_).decode("ascii")


class _HashingWriter:
    """A binary file written through a buffer while its SHA-256 and length are computed."""

    def __init__(self, path: Path) -> None:
        self.file: IO[bytes] = path.open("wb", buffering=_BUFFER)
        self.sha256 = hashlib.sha256()
        self.length = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.sha256.update(data)
        self.length += len(data)

    def close(self) -> dict[str, object]:
        self.file.close()
        return {"bytes": self.length, "sha256": self.sha256.hexdigest()}


def _write_file(directory: Path, name: str, data: bytes, files: dict[str, object]) -> None:
    writer = _HashingWriter(directory / name)
    writer.write(data)
    files[name] = writer.close()


def _open_note(note: str, verifiers: Sequence[NoteVerifier], what: str) -> Checkpoint:
    try:
        return open_checkpoint(note, verifiers)[0]
    except ValueError as error:
        raise BundleError(f"the {what} does not verify with the verifier keys given: {error}") from error


def write_bundle(
    directory: Path,
    events: Iterable[tuple[int, bytes]],
    tree: ProofSource,
    checkpoint_note: str,
    verifier_keys: Sequence[str],
    earlier_note: str | None = None,
    *,
    full: bool = False,
    selection: Mapping[str, str] | None = None,
    manifest_signer: NoteSigner | None = None,
) -> BundleSummary:
    """Write a bundle of `events` ((ledger index, leaf data), indexes increasing) proven against a checkpoint.

    `full` promises every ledger entry 0..size-1 of the checkpoint (the verifier then recomputes the
    root; no per-event proofs are written); otherwise each event gets an inclusion proof. With
    `earlier_note`, a consistency proof from that checkpoint is added. `selection` (e.g.
    {"review": id}) is recorded in the manifest, which `manifest_signer` signs to attest that the
    export holds every event of that selection. Refuses (BundleError) anything that would not verify.
    """
    verifiers = [NoteVerifier.from_vkey(key) for key in verifier_keys]
    checkpoint = _open_note(checkpoint_note, verifiers, "checkpoint")
    if checkpoint.size > tree.size or tree.root(checkpoint.size) != checkpoint.root:
        raise BundleError(f"the ledger's root at size {checkpoint.size} is not the checkpoint's root")
    earlier: Checkpoint | None = None
    if earlier_note is not None:
        earlier = _open_note(earlier_note, verifiers, "earlier checkpoint")
        if earlier.size > checkpoint.size or tree.root(earlier.size) != earlier.root:
            raise BundleError(f"the earlier checkpoint of size {earlier.size} is not one of this ledger's")

    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, object] = {}
    event_writer = _HashingWriter(directory / EVENTS_FILE)
    side_writer = _HashingWriter(directory / (LEAF_HASHES_FILE if full else INCLUSION_PROOFS_FILE))
    count, previous = 0, -1
    try:
        for index, data in events:
            if full and index != previous + 1:
                raise BundleError(f"a full export holds every ledger index in turn: {index} came after "
                                  f"{previous}")
            if index <= previous:
                raise BundleError(f"ledger index {index} comes after {previous}: events go in ledger order")
            if index >= checkpoint.size:
                raise BundleError(f"ledger index {index} is beyond the checkpoint's size {checkpoint.size}")
            if b"\n" in data:
                raise BundleError(f"the leaf data of ledger index {index} holds a newline: not JCS")
            hash_ = leaf_hash(data)
            if hash_ != tree.leaf_hash(index):
                raise BundleError(f"the event given for ledger index {index} is not the one the ledger hashed"
                                  )
            event_writer.write(data + b"\n")
            if full:
                side_writer.write(hash_)
            else:
                proof = [_b64(node) for node in tree.inclusion_proof(index, checkpoint.size)]
                side_writer.write(canonical_json({"index": index, "proof": proof}) + b"\n")
            previous = index
            count += 1
    finally:
        files[EVENTS_FILE] = event_writer.close()
        files[LEAF_HASHES_FILE if full else INCLUSION_PROOFS_FILE] = side_writer.close()
    if full and count != checkpoint.size:
        raise BundleError(f"a full export holds all {checkpoint.size} events; {count} were given")

    _write_file(directory, CHECKPOINT_FILE, checkpoint_note.encode("utf-8"), files)
    _write_file(directory, VERIFIER_KEYS_FILE, "".join(key.strip() + "\n" for key in verifier_keys).encode(),
                files)
    manifest: dict[str, object] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "scope": "full" if full else "partial",
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "event_count": count,
        "selection": dict(selection or {}),
    }
    if earlier is not None and earlier_note is not None:
        _write_file(directory, EARLIER_CHECKPOINT_FILE, earlier_note.encode("utf-8"), files)
        hashes = tree.consistency_proof(earlier.size, checkpoint.size)
        consistency = {"old_size": earlier.size, "new_size": checkpoint.size,
                       "proof": [_b64(hash_) for hash_ in hashes]}
        _write_file(directory, CONSISTENCY_PROOF_FILE, canonical_json(consistency) + b"\n", files)
        manifest["earlier_tree_size"] = earlier.size
    manifest["files"] = files
    manifest_bytes = canonical_json(manifest) + b"\n"
    (directory / MANIFEST_FILE).write_bytes(manifest_bytes)
    if manifest_signer is not None:
        note = manifest_signer.sign_body(manifest_signature_body(checkpoint.origin, manifest_bytes))
        (directory / MANIFEST_SIGNATURE_FILE).write_text(note, encoding="utf-8")
    return BundleSummary(directory, "full" if full else "partial", checkpoint.size, count,
                         None if earlier is None else earlier.size)


def read_manifest(directory: Path) -> dict[str, object]:
    """The manifest of a bundle as JSON (unverified)."""
    value = json.loads((directory / MANIFEST_FILE).read_bytes())
    if not isinstance(value, dict):
        raise ValueError("the manifest is not a JSON object")
    return value


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def bundle_files(directory: Path) -> list[str]:
    """The names of the regular files in a bundle directory."""
    return sorted(entry.name for entry in os.scandir(directory) if entry.is_file())
