"""Checkpoints as C2SP tlog-checkpoint bodies, signed as C2SP signed notes with Ed25519."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dhr_oversight.ledger import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    leaf_hash,
    open_checkpoint,
)

ROOT = leaf_hash(b"root")
SIGNER = NoteSigner.from_seed("dhr.example/oversight", bytes(range(32)))
MOMENT = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)


def a_checkpoint(size: int = 3) -> Checkpoint:
    return Checkpoint("dhr.example/oversight", size, ROOT, MOMENT)


def test_the_body_is_origin_size_root_and_the_time_line() -> None:
    assert a_checkpoint().body() == (
        b"dhr.example/oversight\n3\n" + base64.b64encode(ROOT) + b"\ntime 2025-04-01T09:30:00Z\n"
    )


def test_a_checkpoint_body_parses_back_to_itself() -> None:
    checkpoint = Checkpoint("o", 7, ROOT, MOMENT, ("other extension",))
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    assert Checkpoint.parse(Checkpoint("o", 0, ROOT).body()) == Checkpoint("o", 0, ROOT)


def test_the_time_is_normalised_to_utc_seconds() -> None:
    local = datetime(2025, 4, 1, 10, 30, 0, 999, tzinfo=timezone(timedelta(hours=1)))
    assert Checkpoint("o", 1, ROOT, local).time == MOMENT


def test_the_key_id_is_the_hash_of_name_newline_type_and_public_key() -> None:
    public = SIGNER.verifier_key_string().split("+", 2)[2]
    raw = base64.b64decode(public)
    assert raw[0] == 1 and len(raw) == 33
    expected = hashlib.sha256(b"dhr.example/oversight\n\x01" + raw[1:]).digest()[:4]
    assert SIGNER.key_id == expected
    assert SIGNER.verifier_key_string() == f"dhr.example/oversight+{expected.hex()}+{public}"


def test_a_signed_note_has_a_blank_line_then_an_em_dash_signature_line() -> None:
    note = SIGNER.sign(a_checkpoint())
    body, signature_line = note.split("\n\n")
    assert (body + "\n").encode() == a_checkpoint().body()
    assert signature_line.startswith("\u2014 dhr.example/oversight ") and signature_line.endswith("\n")
    raw = base64.b64decode(signature_line.split(" ")[2])
    assert raw[:4] == SIGNER.key_id and len(raw) == 4 + 64


def test_a_signed_note_verifies_with_the_vkey() -> None:
    verifier = NoteVerifier.from_vkey(SIGNER.verifier_key_string())
    assert verifier.verify(SIGNER.sign(a_checkpoint())) == a_checkpoint()


def test_a_changed_body_does_not_verify() -> None:
    note = SIGNER.sign(a_checkpoint()).replace("\n3\n", "\n4\n")
    with pytest.raises(NoteError, match="does not verify"):
        SIGNER.verifier().verify(note)


def test_a_note_signed_by_another_key_does_not_verify() -> None:
    other = NoteSigner.from_seed("dhr.example/oversight", bytes(32))
    with pytest.raises(NoteError, match="no signature by key"):
        SIGNER.verifier().verify(other.sign(a_checkpoint()))


def test_old_checkpoints_stay_verifiable_with_the_old_key_after_rotation() -> None:
    rotated = NoteSigner.from_seed("dhr.example/oversight-2026", bytes([7]) * 32)
    verifiers = [NoteVerifier.from_vkey(key) for key in
                 (rotated.verifier_key_string(), SIGNER.verifier_key_string())]
    old, new = SIGNER.sign(a_checkpoint(3)), rotated.sign(a_checkpoint(9))
    assert open_checkpoint(old, verifiers)[1].name == "dhr.example/oversight"
    assert open_checkpoint(new, verifiers)[0].size == 9
    with pytest.raises(NoteError, match="no key verifies"):
        open_checkpoint(new, verifiers[1:])


def test_unknown_signatures_are_ignored() -> None:
    cosigner = NoteSigner.from_seed("witness.example", bytes([9]) * 32)
    note = SIGNER.sign(a_checkpoint()) + cosigner.sign(a_checkpoint()).split("\n\n")[1]
    assert SIGNER.verifier().verify(note) == a_checkpoint()


def test_a_private_key_string_round_trips() -> None:
    assert NoteSigner.from_skey(SIGNER.signer_key_string()).key_id == SIGNER.key_id
    assert SIGNER.signer_key_string().startswith("PRIVATE+KEY+dhr.example/oversight+")


@pytest.mark.parametrize("vkey", [
    "name+00000000+AQ==",
    "name+deadbeef",
    "na me+deadbeef+" + base64.b64encode(bytes(33)).decode(),
])
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(vkey)


def test_a_verifier_key_with_a_wrong_key_id_is_refused() -> None:
    name, _, key = SIGNER.verifier_key_string().split("+", 2)
    with pytest.raises(NoteError, match="does not match"):
        NoteVerifier.from_vkey(f"{name}+00000000+{key}")


@pytest.mark.parametrize("body", [
    "o\n03\n" + base64.b64encode(ROOT).decode() + "\n",
    "o\n3\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
    "o\n3\n" + base64.b64encode(ROOT).decode(),
    "o\n3\n",
    "o\n3\n" + base64.b64encode(ROOT).decode() + "\ntime 2025-04-01 09:30:00\n",
])
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(body)
