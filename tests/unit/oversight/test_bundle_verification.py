"""Audit-export bundles: written from a ledger, verified, and every kind of tampering named where it is."""

import base64
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dhr_oversight.bundle import BundleError, write_bundle
from dhr_oversight.ledger import Checkpoint, MerkleTree, NoteSigner, event_leaf_data, leaf_hash
from dhr_oversight.verify import VerificationReport, verify_bundle

ORIGIN = "dhr.example/oversight"
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(32)))
ROTATED = NoteSigner.from_seed(ORIGIN + "-2026", bytes(range(1, 33)))
MOMENT = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
KEYS = [SIGNER.verifier_key_string()]
REVIEW = "8a0f6a8e-3f7e-4b8e-9c55-1a3e2b4c5d6e"


def an_event(number: int) -> bytes:
    review = REVIEW if number % 3 == 0 else f"00000000-0000-4000-8000-{number:012d}"
    return event_leaf_data({
        "id": f"4f1c6f0e-8a57-4c1e-9d3e-{number:012d}",
        "source": "/dhr/commissioning",
        "type": "dhr.commissioning.ReviewNotified.v1",
        "subject": review,
        "time": "2025-04-01T09:30:00Z",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "stream": f"review-{review}",
        "streamversion": number + 1,
        "correlationid": "0c5b2f7a-1111-4222-8333-944455556666",
        "actor": "user:alice",
        "data": {"review_id": review, "area": "Leeds", "note": "caf\u00e9 \u2014 \"quoted\"\n"},
    })


EVENTS = [an_event(number) for number in range(45)]
TREE = MerkleTree.from_leaf_hashes(leaf_hash(event) for event in EVENTS)


def a_note(size: int, signer: NoteSigner = SIGNER) -> str:
    return signer.sign(Checkpoint(ORIGIN, size, TREE.root(size), MOMENT))


def review_events(size: int = 45) -> list[tuple[int, bytes]]:
    return [(index, EVENTS[index]) for index in range(0, size, 3)]


def a_partial_bundle(directory: Path) -> Path:
    write_bundle(directory, review_events(), TREE, a_note(45), [SIGNER.verifier_key_string()],
                 a_note(30), selection={"review": REVIEW}, manifest_signer=SIGNER)
    return directory


def a_full_bundle(directory: Path) -> Path:
    write_bundle(directory, enumerate(EVENTS), TREE, a_note(45), [SIGNER.verifier_key_string()],
                 a_note(20), full=True, selection={"all": "true"}, manifest_signer=SIGNER)
    return directory


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(change(lines_of(path))))


def refresh_manifest(directory: Path) -> None:
    """What a careful forger does after an edit: fix the manifest's hashes (its signature then fails)."""
    from dhr_oversight.bundle import file_sha256

    manifest = json.loads((directory / "manifest.json").read_bytes())
    for name in manifest["files"]:
        manifest["files"][name]["sha256"] = file_sha256(directory / name)
    (directory / "manifest.json").write_text(json.dumps(manifest))


def problems(report: VerificationReport) -> str:
    assert not report.ok
    return "\n".join(report.problems)


def test_a_partial_export_of_one_review_verifies(tmp_path: Path) -> None:
    report = verify_bundle(a_partial_bundle(tmp_path))
    assert report.ok, report.problems
    assert (report.checked_events, report.tree_size, report.complete) == (15, 45, False)
    assert report.earlier_tree_size == 30 and report.selection == {"review": REVIEW}
    assert report.signed_by == SIGNER.verifier_key_string()
    assert "VERIFIED" in report.describe()


def test_a_full_export_verifies_by_recomputing_the_root(tmp_path: Path) -> None:
    report = verify_bundle(a_full_bundle(tmp_path), check_canonical=True)
    assert report.ok, report.problems
    assert (report.checked_events, report.tree_size, report.complete) == (45, 45, True)
    assert not (tmp_path / "inclusion-proofs.jsonl").exists()


def test_each_line_of_events_jsonl_is_exactly_the_leaf_data(tmp_path: Path) -> None:
    a_full_bundle(tmp_path)
    assert lines_of(tmp_path / "events.jsonl") == [event + b"\n" for event in EVENTS]


def test_the_bundle_is_verified_against_independently_obtained_keys(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    assert verify_bundle(tmp_path, trusted_keys=[SIGNER.verifier_key_string()]).ok
    report = verify_bundle(tmp_path, trusted_keys=[ROTATED.verifier_key_string()])
    assert "checkpoint.txt: signature does not verify with any key in the trusted keys" in problems(report)


def test_changing_one_byte_of_one_event_names_the_line_and_ledger_index(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl",
            lambda lines: [*lines[:4], lines[4].replace(b"Leeds", b"Leads"), *lines[5:]])
    text = problems(verify_bundle(tmp_path))
    assert "events.jsonl line 5: leaf hash does not match inclusion proof for ledger index 12" in text
    assert "manifest.json: events.jsonl sha256 differs" in text


def test_changing_one_byte_of_a_full_export_names_the_line(tmp_path: Path) -> None:
    a_full_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl", lambda lines: [*lines[:17], lines[17].replace(b"Leeds", b"Leads"),
                                                      *lines[18:]])
    text = problems(verify_bundle(tmp_path))
    assert "events.jsonl: the root hash of the events is not the checkpoint's root" in text
    assert ("events.jsonl line 18: leaf hash does not match the ledger entry expected there "
            "(ledger index 17)") in text


def test_dropping_an_event_of_a_partial_export_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl", lambda lines: lines[:6] + lines[7:])
    text = problems(verify_bundle(tmp_path))
    assert ("events.jsonl line 7: the event of ledger index 18 is missing (dropped?): lines 7 to 14 hold "
            "the events of inclusion-proofs.jsonl lines 8 to 15") in text
    assert "events.jsonl: holds 14 events but inclusion-proofs.jsonl holds 15 proofs" in text


def test_dropping_an_event_and_its_proof_is_caught_by_the_signed_manifest(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl", lambda lines: lines[:6] + lines[7:])
    rewrite(tmp_path / "inclusion-proofs.jsonl", lambda lines: lines[:6] + lines[7:])
    assert "manifest.json: lists 15 events but events.jsonl holds 14" in problems(verify_bundle(tmp_path))
    refresh_manifest(tmp_path)
    text = problems(verify_bundle(tmp_path))
    assert "manifest-signature.txt: signs another manifest than manifest.json (manifest altered?)" in text


def test_dropping_an_event_of_a_full_export_names_the_ledger_index(tmp_path: Path) -> None:
    a_full_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl", lambda lines: lines[:40] + lines[41:])
    text = problems(verify_bundle(tmp_path))
    assert "events.jsonl: holds 44 events but a full export of the checkpoint holds 45" in text
    assert "events.jsonl: event at ledger index 40 is missing (it belongs at line 41): dropped?" in text


def test_swapping_two_events_of_a_full_export_is_named(tmp_path: Path) -> None:
    a_full_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl", lambda lines: [*lines[:40], lines[41], lines[40], *lines[42:]])
    text = problems(verify_bundle(tmp_path))
    assert "events.jsonl line 42: event at ledger index 40 appears after index 41 (swapped?)" in text


def test_swapping_two_events_of_a_partial_export_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl", lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]])
    text = problems(verify_bundle(tmp_path))
    assert "line 4: holds the event of ledger index 12 (inclusion-proofs.jsonl line 5), not 9" in text
    assert "line 5: holds the event of ledger index 9 (inclusion-proofs.jsonl line 4), not 12" in text


def test_swapping_two_events_with_their_proofs_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    for name in ("events.jsonl", "inclusion-proofs.jsonl"):
        rewrite(tmp_path / name, lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]])
    assert "events.jsonl line 5: event at ledger index 9 appears after index 12 (swapped?)" in problems(
        verify_bundle(tmp_path))


def test_a_truncated_proof_is_named_with_the_expected_length(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)

    def truncate(lines: list[bytes]) -> list[bytes]:
        entry = json.loads(lines[2])
        entry["proof"] = entry["proof"][:-1]
        return [*lines[:2], json.dumps(entry).encode() + b"\n", *lines[3:]]

    rewrite(tmp_path / "inclusion-proofs.jsonl", truncate)
    text = problems(verify_bundle(tmp_path))
    assert ("inclusion-proofs.jsonl line 3: proof for ledger index 6 truncated (expected 6 hashes, "
            "found 5)") in text


def test_a_truncated_proofs_file_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    path = tmp_path / "inclusion-proofs.jsonl"
    path.write_bytes(path.read_bytes()[:-100])
    text = problems(verify_bundle(tmp_path))
    assert "inclusion-proofs.jsonl line 15: not JSON" in text
    assert "manifest.json: inclusion-proofs.jsonl sha256 differs" in text


def test_a_substituted_key_does_not_verify_the_checkpoint(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    (tmp_path / "verifier-keys.txt").write_text(ROTATED.verifier_key_string() + "\n")
    assert "checkpoint.txt: signature does not verify with any key in verifier-keys.txt" in problems(
        verify_bundle(tmp_path))


def test_a_forger_who_resigns_with_their_own_key_is_caught_by_the_trusted_key(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    forger = NoteSigner.from_seed(ORIGIN, bytes([66]) * 32)
    (tmp_path / "verifier-keys.txt").write_text(forger.verifier_key_string() + "\n")
    (tmp_path / "checkpoint.txt").write_text(a_note(45, forger))
    (tmp_path / "earlier-checkpoint.txt").write_text(a_note(30, forger))
    assert "checkpoint.txt: signature does not verify with any key in the trusted keys" in problems(
        verify_bundle(tmp_path, trusted_keys=[SIGNER.verifier_key_string()]))


def test_a_checkpoint_inconsistent_with_the_earlier_one_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    forked = MerkleTree.from_leaf_hashes(TREE.leaf_hash(index) for index in range(30))
    forked.append(leaf_hash(b"rewritten"))
    earlier = SIGNER.sign(Checkpoint(ORIGIN, 31, forked.root(), MOMENT))
    (tmp_path / "earlier-checkpoint.txt").write_text(earlier)
    proof = [base64.b64encode(hash_).decode() for hash_ in TREE.consistency_proof(31, 45)]
    consistency = {"old_size": 31, "new_size": 45, "proof": proof}
    (tmp_path / "consistency-proof.json").write_text(json.dumps(consistency))
    assert ("consistency-proof.json: checkpoint of size 45 is not consistent with the earlier checkpoint of "
            "size 31") in problems(verify_bundle(tmp_path))


def test_old_checkpoints_stay_verifiable_after_key_rotation(tmp_path: Path) -> None:
    keys = [ROTATED.verifier_key_string(), SIGNER.verifier_key_string()]
    write_bundle(tmp_path, review_events(), TREE, a_note(45, ROTATED), keys, a_note(30, SIGNER),
                 manifest_signer=ROTATED)
    report = verify_bundle(tmp_path)
    assert report.ok, report.problems
    assert report.signed_by == ROTATED.verifier_key_string()


def test_a_non_canonical_event_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    rewrite(tmp_path / "events.jsonl",
            lambda lines: [lines[0].replace(b'{"actor"', b'{ "actor"'), *lines[1:]])
    assert "events.jsonl line 1: not in RFC 8785 canonical form" in problems(verify_bundle(tmp_path))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    a_partial_bundle(tmp_path)
    (tmp_path / "consistency-proof.json").unlink()
    assert "consistency-proof.json: missing" in problems(verify_bundle(tmp_path))


def test_the_writer_refuses_an_event_the_ledger_did_not_hash(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="ledger index 3 is not the one the ledger hashed"):
        write_bundle(tmp_path, [(0, EVENTS[0]), (3, EVENTS[4])], TREE, a_note(45), KEYS)


def test_the_writer_refuses_a_full_export_with_a_gap(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="every ledger index in turn"):
        write_bundle(tmp_path, [(0, EVENTS[0]), (2, EVENTS[2])], TREE, a_note(45), KEYS, full=True)


def test_the_writer_refuses_a_checkpoint_the_keys_do_not_verify(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not verify"):
        write_bundle(tmp_path, review_events(), TREE, a_note(45, ROTATED), [SIGNER.verifier_key_string()])


def test_an_unsigned_manifest_is_noted(tmp_path: Path) -> None:
    write_bundle(tmp_path, review_events(), TREE, a_note(45), [SIGNER.verifier_key_string()])
    report = verify_bundle(tmp_path)
    assert report.ok and "manifest-signature.txt absent" in report.notes[0]
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize("block_leaves", [1, 4, 8, 64])
def test_hashing_in_parallel_processes_gives_the_same_root(tmp_path: Path, block_leaves: int) -> None:
    from dhr_oversight.verify import _full_root

    a_full_bundle(tmp_path)
    blob, root = _full_root(tmp_path / "events.jsonl", workers=2, block_leaves=block_leaves)
    assert root == TREE.root() and blob == b"".join(leaf_hash(event) for event in EVENTS)
