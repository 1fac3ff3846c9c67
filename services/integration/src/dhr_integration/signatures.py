"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, as docs/integration.md says.

    DHR-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The key is the subscription's secret as given (its UTF-8 bytes, `whsec_` prefix included); the
message is the decimal timestamp, a full stop, then the request body byte for byte. The timestamp
is signed with the body so that a receiver can refuse an old request replayed by someone who
captured it (a window of five minutes is advised).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "DHR-Signature"
SIGNATURE_SCHEME = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix that marks a secret, not one


def new_secret() -> str:
    """A fresh signing secret: 256 random bits, URL-safe, recognisable by its prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under the secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the DHR-Signature header of one delivery attempt."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={signature(secret, timestamp, body)}"
