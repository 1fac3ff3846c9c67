"""The checkpoint signing keys: from configuration (a secret or a file), or generated for
development; several keys for rotation, the newest signing, every one published to verifiers."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dhr_oversight.config import OversightSettings
from dhr_oversight.ledger import NoteSigner, NoteVerifier

log = logging.getLogger(__name__)

SEED_BYTES = 32
DEVELOPMENT_KEY_FILE = Path("oversight") / "signing-keys"


class SigningKeyError(ValueError):
    """The configured signing key is missing or malformed."""


def generate_seed() -> str:
    """A new Ed25519 seed, base64, as the configuration takes it."""
    return base64.b64encode(secrets.token_bytes(SEED_BYTES)).decode()


def parse_seed(text: str, where: str) -> Ed25519PrivateKey:
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SigningKeyError(f"{where}: not base64") from error
    if len(seed) != SEED_BYTES:
        raise SigningKeyError(f"{where}: an Ed25519 seed is {SEED_BYTES} bytes, not {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _seeds_of_file(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class SigningKeys:
    """Every key the log has signed with, oldest first; the newest signs new checkpoints."""

    origin: str
    private_keys: tuple[Ed25519PrivateKey, ...]

    def __post_init__(self) -> None:
        if not self.private_keys:
            raise SigningKeyError("no signing key")

    @property
    def signer(self) -> NoteSigner:
        return NoteSigner(self.origin, self.private_keys[-1])

    @property
    def verifiers(self) -> list[NoteVerifier]:
        return [NoteVerifier(self.origin, key.public_key()) for key in self.private_keys]

    def verifier_keys(self) -> list[str]:
        """The verifier keys (`<name>+<key hash>+<base64 key>`), oldest first."""
        return [NoteSigner(self.origin, key).verifier_key_string() for key in self.private_keys]

    def verifier_keys_text(self) -> str:
        return "".join(f"{vkey}\n" for vkey in self.verifier_keys())


def keys_from_seeds(origin: str, seeds: Sequence[str], where: str) -> SigningKeys:
    return SigningKeys(origin, tuple(parse_seed(seed, f"{where} key {number}")
                                     for number, seed in enumerate(seeds, start=1)))


def load_signing_keys(settings: OversightSettings, *, generate: bool = True) -> SigningKeys:
    """The keys the configuration gives; in development without one, a key generated once into
    the state directory (so `make run` signs with a stable key across restarts)."""
    origin = settings.oversight_origin
    if settings.oversight_signing_key is not None:
        seeds = [seed for seed in settings.oversight_signing_key.get_secret_value().split(",")
                 if seed.strip()]
        return keys_from_seeds(origin, seeds, "DHR_OVERSIGHT_SIGNING_KEY")
    if settings.oversight_signing_key_file is not None:
        path = settings.oversight_signing_key_file
        try:
            seeds = _seeds_of_file(path)
        except OSError as error:
            raise SigningKeyError(f"DHR_OVERSIGHT_SIGNING_KEY_FILE {path}: {error}") from error
        return keys_from_seeds(origin, seeds, str(path))
    if settings.environment != "development":
        raise SigningKeyError("set DHR_OVERSIGHT_SIGNING_KEY or DHR_OVERSIGHT_SIGNING_KEY_FILE: "
                              "a key is generated only in development")
    path = settings.state_dir / DEVELOPMENT_KEY_FILE
    if not path.exists():
        if not generate:
            raise SigningKeyError(f"no signing key configured and none generated at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created private to this user, written once: later runs keep signing with it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write("# Development signing key of the oversight log; never use in production.\n")
            file.write(generate_seed() + "\n")
        log.warning("generated a development signing key at %s", path)
    return keys_from_seeds(origin, _seeds_of_file(path), str(path))
