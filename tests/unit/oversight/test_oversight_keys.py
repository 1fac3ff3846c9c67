"""Signing keys from configuration: a secret or a file, several for rotation (the newest signs,
all verify), a development key generated once, and none generated outside development."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import SigningKeyError, generate_seed, load_signing_keys
from dhr_oversight.ledger import Checkpoint, NoteVerifier, open_checkpoint

ROOT = bytes(32)


def settings(**values: object) -> OversightSettings:
    return OversightSettings(oversight_origin="test.example/log", **values)  # type: ignore[arg-type]


def test_the_newest_key_signs_and_every_key_is_published_for_verifiers() -> None:
    old, new = generate_seed(), generate_seed()
    keys = load_signing_keys(settings(environment="test", oversight_signing_key=f"{old},{new}"))
    assert len(keys.verifier_keys()) == 2
    note = keys.signer.sign(Checkpoint("test.example/log", 3, ROOT))
    newest = NoteVerifier.from_vkey(keys.verifier_keys()[-1])
    assert newest.verify(note).size == 3
    oldest = load_signing_keys(settings(environment="test", oversight_signing_key=old))
    old_note = oldest.signer.sign(Checkpoint("test.example/log", 2, ROOT))
    # After rotation, checkpoints signed by the old key still verify with the published keys.
    verifiers = [NoteVerifier.from_vkey(vkey) for vkey in keys.verifier_keys()]
    assert open_checkpoint(old_note, verifiers)[0].size == 2


def test_keys_come_from_a_file_one_a_line_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2025-01\n{generate_seed()}\n\n{generate_seed()}\n")
    keys = load_signing_keys(settings(environment="production", oversight_signing_key_file=path))
    assert len(keys.private_keys) == 2


def test_a_malformed_key_is_refused_with_where_it_came_from() -> None:
    with pytest.raises(SigningKeyError, match="DHR_OVERSIGHT_SIGNING_KEY key 1"):
        load_signing_keys(settings(environment="test", oversight_signing_key="not-base64!"))
    with pytest.raises(SigningKeyError, match="32 bytes"):
        load_signing_keys(settings(environment="test", oversight_signing_key="AAAA"))


def test_a_development_key_is_generated_once_into_the_state_directory(tmp_path: Path) -> None:
    config = settings(environment="development", state_dir=tmp_path)
    first = load_signing_keys(config)
    again = load_signing_keys(config)
    assert first.verifier_keys() == again.verifier_keys()
    assert (tmp_path / "oversight" / "signing-keys").stat().st_mode & 0o077 == 0


def test_outside_development_no_key_is_generated(tmp_path: Path) -> None:
    for environment in ("test", "production"):
        with pytest.raises(SigningKeyError, match="DHR_OVERSIGHT_SIGNING_KEY"):
            load_signing_keys(settings(environment=environment, state_dir=tmp_path))
    assert not (tmp_path / "oversight").exists()
