"""The verifier of audit-export bundles: checks what docs/audit-export.md specifies and says where it fails.

This is our reference implementation of the algorithm in the spec; an oversight body may write its
own from the spec alone. Line numbers in the report count from 1; ledger indexes from 0.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dhr_oversight.bundle import (
    CHECKPOINT_FILE,
    CONSISTENCY_PROOF_FILE,
    EARLIER_CHECKPOINT_FILE,
    EVENTS_FILE,
    FORMAT,
    FORMAT_VERSION,
    INCLUSION_PROOFS_FILE,
    LEAF_HASHES_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    VERIFIER_KEYS_FILE,
    file_sha256,
    manifest_signature_body,
)
from dhr_oversight.ledger import (
    HASH_SIZE,
    CanonicalisationError,
    Checkpoint,
    NoteError,
    NoteVerifier,
    event_leaf_data,
    format_time,
    inclusion_proof_length,
    leaf_hash,
    open_checkpoint,
    root_from_leaf_hashes,
    split_note,
    verify_consistency,
    verify_inclusion,
)

MAX_PROBLEMS_PER_CHECK = 20
_CHUNK = 1 << 24
PARALLEL_FROM_BYTES = 64 << 20
MAX_WORKERS = 8
BLOCK_LEAVES = 1 << 16


@dataclass
class VerificationReport:
    """The outcome: `ok` only when nothing at all is wrong; each problem names the file and line."""

    ok: bool
    problems: list[str]
    checked_events: int
    tree_size: int
    complete: bool = False  # a full export: the events are the whole ledger up to tree_size
    origin: str | None = None
    checkpoint_time: datetime | None = None
    signed_by: str | None = None
    earlier_tree_size: int | None = None
    selection: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A report for a person."""
        lines = ["VERIFIED" if self.ok else f"NOT VERIFIED: {len(self.problems)} problem(s)"]
        if self.origin is not None:
            moment = "" if self.checkpoint_time is None else f", time {format_time(self.checkpoint_time)}"
            lines.append(f"checkpoint: origin {self.origin}, tree size {self.tree_size}{moment}")
        if self.signed_by:
            lines.append(f"signed by: {self.signed_by} (compare with the key you obtained independently)")
        scope = "the complete ledger" if self.complete else f"a selection of a ledger of {self.tree_size}"
        lines.append(f"events verified: {self.checked_events} ({scope})")
        if self.selection:
            lines.append("selection: " + ", ".join(f"{key}={value}" for key, value in self.selection.items()))
        if self.earlier_tree_size is not None:
            lines.append(f"earlier checkpoint: tree size {self.earlier_tree_size}")
        lines.extend(f"note: {note}" for note in self.notes)
        lines.extend(f"problem: {problem}" for problem in self.problems)
        return "\n".join(lines)


class _Problems:
    """Problems grouped by check, each group capped so one broken file does not flood the report."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._counts: dict[str, int] = {}

    def add(self, group: str, message: str) -> None:
        count = self._counts.get(group, 0) + 1
        self._counts[group] = count
        if count <= MAX_PROBLEMS_PER_CHECK:
            self.items.append(message)

    def close(self) -> list[str]:
        for group, count in self._counts.items():
            if count > MAX_PROBLEMS_PER_CHECK:
                self.items.append(f"{group}: and {count - MAX_PROBLEMS_PER_CHECK} more problems like these")
        return self.items


def _read_text(directory: Path, name: str, problems: _Problems) -> str | None:
    path = directory / name
    if not path.is_file():
        problems.add(name, f"{name}: missing")
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.add(name, f"{name}: not UTF-8 text")
        return None


def _decode_hashes(values: object, where: str, problems: _Problems, group: str) -> list[bytes] | None:
    if not isinstance(values, list):
        problems.add(group, f"{where}: the proof is not a list of base64 hashes")
        return None
    hashes: list[bytes] = []
    for position, value in enumerate(values, start=1):
        try:
            raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except binascii.Error:
            raw = b""
        if len(raw) != HASH_SIZE:
            problems.add(group, f"{where}: proof hash {position} is not 32 bytes in base64")
            return None
        hashes.append(raw)
    return hashes


def _verifiers(directory: Path, trusted_keys: Sequence[str] | None,
               problems: _Problems) -> list[NoteVerifier]:
    if trusted_keys is not None:
        source, lines = "the trusted keys", list(trusted_keys)
    else:
        text = _read_text(directory, VERIFIER_KEYS_FILE, problems)
        source, lines = VERIFIER_KEYS_FILE, ([] if text is None else text.splitlines())
    verifiers: list[NoteVerifier] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            verifiers.append(NoteVerifier.from_vkey(line))
        except (NoteError, ValueError) as error:
            problems.add(VERIFIER_KEYS_FILE, f"{source} line {number}: not a verifier key: {error}")
    if not verifiers:
        problems.add(VERIFIER_KEYS_FILE, f"{source}: no usable verifier key")
    return verifiers


def _open(note: str, name: str, verifiers: list[NoteVerifier], key_source: str,
          problems: _Problems) -> tuple[Checkpoint | None, NoteVerifier | None]:
    """The checkpoint of a note and its key; when the signature fails, the unverified body (to go on)."""
    try:
        checkpoint, verifier = open_checkpoint(note, verifiers)
        return checkpoint, verifier
    except NoteError as error:
        problems.add(name, f"{name}: signature does not verify with any key in {key_source} ({error})")
    try:
        return Checkpoint.parse(split_note(note)[0]), None
    except (NoteError, UnicodeError) as error:
        problems.add(name, f"{name}: not a checkpoint: {error}")
        return None, None


def _check_manifest(directory: Path, problems: _Problems) -> tuple[dict[str, object], bytes | None]:
    path = directory / MANIFEST_FILE
    if not path.is_file():
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: missing")
        return {}, None
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError as error:
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: not JSON ({error})")
        return {}, raw
    if not isinstance(manifest, dict):
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: not a JSON object")
        return {}, raw
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: not a {FORMAT} version {FORMAT_VERSION} manifest")
    files = manifest.get("files")
    if not isinstance(files, dict):
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: no files listed")
        return manifest, raw
    for name, entry in sorted(files.items()):
        if name == EVENTS_FILE:
            continue  # hashed while the events are read, to read them once
        if "/" in name or name.startswith("."):
            problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: file name {name!r} is not a plain file name")
        elif not (directory / name).is_file():
            problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: lists {name}, which is missing")
        elif not isinstance(entry, dict) or entry.get("sha256") != file_sha256(directory / name):
            problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: {name} sha256 differs")
    return manifest, raw


def _events_sha256_listed(manifest: dict[str, object]) -> object:
    files = manifest.get("files")
    entry = files.get(EVENTS_FILE) if isinstance(files, dict) else None
    return entry.get("sha256") if isinstance(entry, dict) else None


def _leaf_hashes_of_range(path: str, start: int, end: int) -> bytes:
    """The concatenated leaf hashes of the lines in bytes [start, end) of a file (a range of whole lines).

    The hot loop of the verifier: big reads, one split per chunk, one SHA-256 call per line.
    """
    sha256 = hashlib.sha256
    hashes: list[bytes] = []
    tail = b""
    with open(path, "rb", buffering=0) as file:
        file.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = file.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            lines = chunk.split(b"\n")
            lines[0] = tail + lines[0]
            tail = lines.pop()
            hashes.extend([sha256(b"\x00" + line).digest() for line in lines])
    if tail:  # a last line without its newline: hashed too, and reported by the caller
        hashes.append(sha256(b"\x00" + tail).digest())
    return b"".join(hashes)


def _split(blob: bytes) -> list[bytes]:
    return [blob[offset:offset + HASH_SIZE] for offset in range(0, len(blob), HASH_SIZE)]


def _block_roots(blob: bytes, block: int) -> bytes:
    """The roots of consecutive blocks of `block` leaf hashes (the last block may be shorter)."""
    step = block * HASH_SIZE
    return b"".join(root_from_leaf_hashes(_split(blob[offset:offset + step]))
                    for offset in range(0, len(blob), step))


def _line_aligned_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """Split a file into about `parts` byte ranges, each ending just after a newline (or at the end)."""
    size = path.stat().st_size
    bounds = [0]
    with path.open("rb") as file:
        for part in range(1, parts):
            file.seek(max(bounds[-1], size * part // parts))
            file.readline()
            position = file.tell()
            if bounds[-1] < position < size:
                bounds.append(position)
    bounds.append(size)
    return list(itertools.pairwise(bounds))


def _workers(path: Path) -> int:
    # Processes only pay off on big files: starting one costs tens of milliseconds.
    if path.stat().st_size < PARALLEL_FROM_BYTES:
        return 1
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _full_root(path: Path, workers: int, block_leaves: int = BLOCK_LEAVES) -> tuple[bytes, bytes]:
    """The concatenated leaf hashes of every line of events.jsonl and the Merkle root over them.

    On several cores, processes hash line-aligned byte ranges, then the roots of aligned blocks of
    `block_leaves` (a power of two) leaves: each is a node of the tree (the last one on its right
    edge), and the root over the block roots is the tree's root, since MTH splits at the same powers
    of two.
    """
    if workers == 1:
        blob = _leaf_hashes_of_range(str(path), 0, path.stat().st_size)
        return blob, root_from_leaf_hashes(_split(blob))
    ranges = _line_aligned_ranges(path, workers * 2)
    # fork starts a worker in milliseconds and needs no importable __main__; the workers only read
    # the file and hash, so no lock of the parent matters to them.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        blob = b"".join(pool.map(_leaf_hashes_of_range, [str(path)] * len(ranges),
                                 [start for start, _ in ranges], [end for _, end in ranges]))
        step = block_leaves * HASH_SIZE
        blocks_per_worker = -(-len(blob) // step // workers) or 1
        slices = [blob[offset:offset + step * blocks_per_worker]
                  for offset in range(0, len(blob), step * blocks_per_worker)]
        roots = b"".join(pool.map(_block_roots, slices, [block_leaves] * len(slices)))
    return blob, root_from_leaf_hashes(_split(roots))


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _locate_full_differences(directory: Path, hashes: list[bytes], checkpoint: Checkpoint,
                             problems: _Problems) -> None:
    """Name the lines that differ from the ledger, using leaf-hashes.bin once it proves to be the ledger's."""
    group = EVENTS_FILE
    path = directory / LEAF_HASHES_FILE
    raw = path.read_bytes() if path.is_file() else b""
    reference = [raw[offset:offset + HASH_SIZE] for offset in range(0, len(raw), HASH_SIZE)]
    if (len(raw) % HASH_SIZE or len(reference) != checkpoint.size
            or root_from_leaf_hashes(reference) != checkpoint.root):
        problems.add(LEAF_HASHES_FILE, f"{LEAF_HASHES_FILE}: missing or not the ledger's leaf hashes, so the "
                                       "differing events cannot be located")
        return
    position = {hash_: index for index, hash_ in enumerate(reference)}
    seen: set[int] = set()
    highest = -1
    for line, hash_ in enumerate(hashes, start=1):
        index = position.get(hash_)
        if index is None:
            expected = highest + 1
            problems.add(group, f"{EVENTS_FILE} line {line}: leaf hash does not match the ledger entry "
                                f"expected there (ledger index {expected}): event altered?")
            seen.add(expected)
            highest = max(highest, expected)
        elif index in seen:
            problems.add(group, f"{EVENTS_FILE} line {line}: event of ledger index {index} appears twice")
        else:
            if index < highest:
                problems.add(group, f"{EVENTS_FILE} line {line}: event at ledger index {index} appears after "
                                    f"index {highest} (swapped?)")
            seen.add(index)
            highest = max(highest, index)
    for index in range(checkpoint.size):
        if index not in seen:
            problems.add(group, f"{EVENTS_FILE}: event at ledger index {index} is missing (it belongs at "
                                f"line {index + 1}): dropped?")


def _verify_full(directory: Path, checkpoint: Checkpoint, manifest: dict[str, object],
                 problems: _Problems, check_canonical: bool) -> tuple[int, int]:
    path = directory / EVENTS_FILE
    blob, root = _full_root(path, _workers(path))
    count = len(blob) // HASH_SIZE
    if not _ends_with_newline(path):
        problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {count}: the last line does not end with a newline")
    if check_canonical:
        _check_canonical_lines(path, problems)
    if count == checkpoint.size and root == checkpoint.root:
        # The signed root covers every byte; the manifest's hash of the file would add nothing.
        return count, count
    _check_events_sha256(manifest, file_sha256(path), problems)
    if count != checkpoint.size:
        problems.add(EVENTS_FILE, f"{EVENTS_FILE}: holds {count} events but a full export of the "
                                  f"checkpoint holds {checkpoint.size}")
    else:
        problems.add(EVENTS_FILE, f"{EVENTS_FILE}: the root hash of the events is not the checkpoint's root")
    _locate_full_differences(directory, _split(blob), checkpoint, problems)
    return 0, count


def _check_events_sha256(manifest: dict[str, object], actual: str, problems: _Problems) -> None:
    if manifest and _events_sha256_listed(manifest) != actual:
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: {EVENTS_FILE} sha256 differs")


def _canonical_problem(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError as error:
        return f"not JSON ({error})"
    if not isinstance(value, dict):
        return "not a JSON object"
    try:
        if event_leaf_data(value) != line:
            return "not in RFC 8785 canonical form"
    except CanonicalisationError as error:
        return f"not an event as the leaf data is defined: {error}"
    return None


def _check_canonical_lines(path: Path, problems: _Problems) -> None:
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            problem = _canonical_problem(line.removesuffix(b"\n"))
            if problem:
                problems.add("canonical", f"{EVENTS_FILE} line {number}: {problem}")


@dataclass
class _ProofLine:
    number: int
    index: int
    proof: list[bytes]


def _read_proof_lines(path: Path, checkpoint: Checkpoint, problems: _Problems) -> list[_ProofLine | None]:
    group = INCLUSION_PROOFS_FILE
    entries: list[_ProofLine | None] = []
    if not path.is_file():
        problems.add(group, f"{INCLUSION_PROOFS_FILE}: missing (a partial export proves each event)")
        return entries
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            where = f"{INCLUSION_PROOFS_FILE} line {number}"
            try:
                value = json.loads(raw)
            except ValueError:
                problems.add(group, f"{where}: not JSON")
                entries.append(None)
                continue
            index = value.get("index") if isinstance(value, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                problems.add(group, f"{where}: no ledger index")
                entries.append(None)
                continue
            proof = _decode_hashes(value.get("proof"), where, problems, group)
            if proof is None:
                entries.append(None)
                continue
            if index >= checkpoint.size:
                problems.add(group, f"{where}: ledger index {index} is beyond the checkpoint's tree size "
                                    f"{checkpoint.size}")
                entries.append(None)
                continue
            expected = inclusion_proof_length(index, checkpoint.size)
            if len(proof) != expected:
                state = "truncated" if len(proof) < expected else "too long"
                problems.add(group, f"{where}: proof for ledger index {index} {state} (expected {expected} "
                                    f"hashes, found {len(proof)})")
                entries.append(None)
                continue
            entries.append(_ProofLine(number, index, proof))
    return entries


def _verify_partial(directory: Path, checkpoint: Checkpoint, manifest: dict[str, object],
                    problems: _Problems) -> tuple[int, int]:
    entries = _read_proof_lines(directory / INCLUSION_PROOFS_FILE, checkpoint, problems)
    file_hash = hashlib.sha256()
    failing: list[tuple[int, bytes]] = []  # (line number, leaf hash) of events whose own proof fails
    verified = 0
    highest = -1
    line_count = 0
    with (directory / EVENTS_FILE).open("rb") as file:
        for number, raw in enumerate(file, start=1):
            file_hash.update(raw)
            line_count = number
            if not raw.endswith(b"\n"):
                problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {number}: the last line does not end with a "
                                          "newline")
            line = raw.removesuffix(b"\n")
            problem = _canonical_problem(line)
            if problem:
                problems.add("canonical", f"{EVENTS_FILE} line {number}: {problem}")
            hash_ = leaf_hash(line)
            entry = entries[number - 1] if number <= len(entries) else None
            if number > len(entries):
                problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {number}: no inclusion proof for this event "
                                          f"({INCLUSION_PROOFS_FILE} has {len(entries)} lines)")
                continue
            if entry is None:
                continue  # the proof line's problem is already reported
            if entry.index <= highest:
                problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {number}: event at ledger index {entry.index} "
                                          f"appears after index {highest} (swapped?)")
            highest = max(highest, entry.index)
            if verify_inclusion(hash_, entry.index, checkpoint.size, entry.proof, checkpoint.root):
                verified += 1
            else:
                failing.append((number, hash_))
    _check_events_sha256(manifest, file_hash.hexdigest(), problems)
    if line_count < len(entries):
        problems.add(EVENTS_FILE, f"{EVENTS_FILE}: holds {line_count} events but {INCLUSION_PROOFS_FILE} "
                                  f"holds {len(entries)} proofs: an event dropped?")
    _explain_failures(failing, entries, checkpoint, problems)
    return verified, line_count


def _explain_failures(failing: list[tuple[int, bytes]], entries: list[_ProofLine | None],
                      checkpoint: Checkpoint, problems: _Problems) -> None:
    """Say, for each event whose proof fails, whether a nearby proof fits it (moved, dropped, inserted)."""
    def owner(number: int, hash_: bytes) -> _ProofLine | None:
        for other in range(max(1, number - 8), min(len(entries), number + 8) + 1):
            entry = entries[other - 1]
            if other != number and entry is not None and verify_inclusion(
                    hash_, entry.index, checkpoint.size, entry.proof, checkpoint.root):
                return entry
        return None

    explained = [(number, hash_, owner(number, hash_)) for number, hash_ in failing[:1000]]
    position = 0
    while position < len(explained):
        number, _, found = explained[position]
        entry = entries[number - 1]
        assert entry is not None
        # A run of lines each holding the event of the next proof line: one event dropped before them.
        end = position
        while (end + 1 < len(explained) and explained[end + 1][0] == explained[end][0] + 1
               and _offset(explained[end + 1]) == 1):
            end += 1
        if found is not None and _offset(explained[position]) == 1 and end > position:
            last = explained[end][0]
            problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {number}: the event of ledger index {entry.index} "
                                      f"is missing (dropped?): lines {number} to {last} hold the events of "
                                      f"{INCLUSION_PROOFS_FILE} lines {number + 1} to {last + 1}")
            position = end + 1
            continue
        if found is None:
            problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {number}: leaf hash does not match inclusion "
                                      f"proof for ledger index {entry.index}")
        else:
            problems.add(EVENTS_FILE, f"{EVENTS_FILE} line {number}: holds the event of ledger index "
                                      f"{found.index} ({INCLUSION_PROOFS_FILE} line {found.number}), not "
                                      f"{entry.index}: events moved, dropped or inserted?")
        position += 1
    if len(failing) > 1000:
        problems.add(EVENTS_FILE, f"{EVENTS_FILE}: {len(failing) - 1000} more events fail their proofs")


def _offset(explained: tuple[int, bytes, _ProofLine | None]) -> int | None:
    number, _, found = explained
    return None if found is None else found.number - number


def _verify_earlier(directory: Path, checkpoint: Checkpoint, verifiers: list[NoteVerifier], key_source: str,
                    problems: _Problems) -> int | None:
    note = _read_text(directory, EARLIER_CHECKPOINT_FILE, problems)
    text = _read_text(directory, CONSISTENCY_PROOF_FILE, problems)
    if note is None or text is None:
        return None
    earlier, _ = _open(note, EARLIER_CHECKPOINT_FILE, verifiers, key_source, problems)
    if earlier is None:
        return None
    group = CONSISTENCY_PROOF_FILE
    try:
        value = json.loads(text)
    except ValueError:
        problems.add(group, f"{CONSISTENCY_PROOF_FILE}: not JSON")
        return earlier.size
    if not isinstance(value, dict):
        problems.add(group, f"{CONSISTENCY_PROOF_FILE}: not a JSON object")
        return earlier.size
    if value.get("old_size") != earlier.size or value.get("new_size") != checkpoint.size:
        problems.add(group, f"{CONSISTENCY_PROOF_FILE}: sizes {value.get('old_size')} to "
                            f"{value.get('new_size')} are not those of the checkpoints ({earlier.size} to "
                            f"{checkpoint.size})")
    if earlier.origin != checkpoint.origin:
        problems.add(group, f"{EARLIER_CHECKPOINT_FILE}: origin {earlier.origin} is not {checkpoint.origin}")
    proof = _decode_hashes(value.get("proof"), CONSISTENCY_PROOF_FILE, problems, group)
    if proof is not None and not verify_consistency(earlier.size, checkpoint.size, earlier.root,
                                                    checkpoint.root, proof):
        problems.add(group, f"{CONSISTENCY_PROOF_FILE}: checkpoint of size {checkpoint.size} is not "
                            f"consistent with the earlier checkpoint of size {earlier.size}")
    return earlier.size


def _verify_manifest_signature(directory: Path, manifest_bytes: bytes | None, origin: str,
                               verifiers: list[NoteVerifier], key_source: str, problems: _Problems,
                               notes: list[str]) -> None:
    path = directory / MANIFEST_SIGNATURE_FILE
    if not path.is_file():
        notes.append(f"{MANIFEST_SIGNATURE_FILE} absent: that the export holds every event of its selection "
                     "is not attested (each event present is still proven)")
        return
    if manifest_bytes is None:
        return
    note = path.read_text(encoding="utf-8")
    for verifier in verifiers:
        try:
            body = verifier.verify_body(note)
        except NoteError:
            continue
        if body != manifest_signature_body(origin, manifest_bytes):
            problems.add(MANIFEST_SIGNATURE_FILE, f"{MANIFEST_SIGNATURE_FILE}: signs another manifest than "
                                                  f"{MANIFEST_FILE} (manifest altered?)")
        return
    problems.add(MANIFEST_SIGNATURE_FILE, f"{MANIFEST_SIGNATURE_FILE}: signature does not verify with any "
                                          f"key in {key_source}")


def verify_bundle(directory: Path, trusted_keys: Sequence[str] | None = None, *,
                  check_canonical: bool = False) -> VerificationReport:
    """Verify an audit-export bundle as docs/audit-export.md specifies.

    `trusted_keys` are verifier keys obtained independently of the bundle (recommended); without
    them the bundle's own verifier-keys.txt is used, which proves integrity but not who signed.
    A partial export always checks each event is canonical leaf data; a full export does so only
    with `check_canonical`, since matching the signed root already proves every byte.
    """
    problems = _Problems()
    key_source = "the trusted keys" if trusted_keys is not None else VERIFIER_KEYS_FILE
    manifest, manifest_bytes = _check_manifest(directory, problems)
    verifiers = _verifiers(directory, trusted_keys, problems)
    note = _read_text(directory, CHECKPOINT_FILE, problems)
    checkpoint: Checkpoint | None = None
    verifier: NoteVerifier | None = None
    if note is not None:
        checkpoint, verifier = _open(note, CHECKPOINT_FILE, verifiers, key_source, problems)
    selection = manifest.get("selection")
    report = VerificationReport(ok=False, problems=[], checked_events=0, tree_size=0,
                                selection=dict(selection) if isinstance(selection, dict) else {})
    if checkpoint is None:
        report.problems = problems.close()
        return report
    report.tree_size, report.origin = checkpoint.size, checkpoint.origin
    report.checkpoint_time = checkpoint.time
    if verifier is not None:
        report.signed_by = verifier.verifier_key_string()
    if manifest and manifest.get("tree_size") != checkpoint.size:
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: tree size {manifest.get('tree_size')} is not the "
                                    f"checkpoint's {checkpoint.size}")
    scope = manifest.get("scope")
    if scope not in ("full", "partial"):
        scope = "partial" if (directory / INCLUSION_PROOFS_FILE).is_file() else "full"
    lines = 0
    if not (directory / EVENTS_FILE).is_file():
        problems.add(EVENTS_FILE, f"{EVENTS_FILE}: missing")
    elif scope == "full":
        report.checked_events, lines = _verify_full(directory, checkpoint, manifest, problems,
                                                    check_canonical)
        report.complete = report.checked_events == checkpoint.size
    else:
        report.checked_events, lines = _verify_partial(directory, checkpoint, manifest, problems)
    if manifest and manifest.get("event_count") != lines:
        problems.add(MANIFEST_FILE, f"{MANIFEST_FILE}: lists {manifest.get('event_count')} events but "
                                    f"{EVENTS_FILE} holds {lines}")
    earlier_listed = "earlier_tree_size" in manifest
    if earlier_listed or (directory / EARLIER_CHECKPOINT_FILE).exists() or (
            directory / CONSISTENCY_PROOF_FILE).exists():
        report.earlier_tree_size = _verify_earlier(directory, checkpoint, verifiers, key_source, problems)
    _verify_manifest_signature(directory, manifest_bytes, checkpoint.origin, verifiers, key_source, problems,
                               report.notes)
    report.problems = problems.close()
    report.ok = not report.problems
    return report
