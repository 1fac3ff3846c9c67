"""The maths of the oversight ledger: canonical JSON, the Merkle tree of RFC 9162 and signed checkpoints.

Pure: the standard library and `cryptography` only; no I/O and no clock. The byte-exact rules are
specified in docs/audit-export.md, which an oversight body can follow without reading this code:

- leaf data is the RFC 8785 (JCS) canonical JSON of the event in CloudEvents JSON format;
- leaf hash = SHA-256(0x00 ‖ leaf data), node hash = SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1);
- inclusion and consistency proofs as RFC 9162 §2.1.3 and §2.1.4;
- checkpoints are C2SP tlog-checkpoint bodies signed as C2SP signed notes with Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

# ---------------------------------------------------------------------------------------------
# RFC 8785: JSON Canonicalization Scheme


class CanonicalisationError(ValueError):
    """A value that has no RFC 8785 canonical form (NaN, an unsafe integer, a lone surrogate...)."""


# Integers beyond ±(2^53 - 1) are not exactly representable as IEEE 754 doubles (RFC 7493 I-JSON):
# their JCS form would silently change the value, so they are refused instead.
MAX_SAFE_INTEGER = 2**53 - 1

_SHORT_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
_ESCAPES = {chr(code): _SHORT_ESCAPES.get(code, f"\\u{code:04x}") for code in range(0x20)}
_ESCAPES['"'] = '\\"'
_ESCAPES["\\"] = "\\\\"
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\]')


def _string(value: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(lambda match: _ESCAPES[match.group()], value) + '"'


def _number(value: float) -> str:
    """ECMAScript Number::toString (ECMA-262 §7.1.12.1), as RFC 8785 §3.2.2.3 requires."""
    if math.isnan(value) or math.isinf(value):
        raise CanonicalisationError(f"{value!r} has no JSON form")
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr gives the shortest digit string that round-trips, closest to the value on ties: the
    # same digits ECMAScript chooses. Only the layout differs, so re-lay them out by ES rules.
    mantissa, _, exponent_text = repr(abs(value)).partition("e")
    integral, _, fraction = mantissa.partition(".")
    digits = (integral + fraction).lstrip("0")
    # n: position of the decimal point relative to the start of `digits` (value = 0.digits × 10^n).
    point = len(integral) + (int(exponent_text) if exponent_text else 0)
    point -= len(integral + fraction) - len((integral + fraction).lstrip("0"))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * (-point) + digits
    else:
        exponent = point - 1
        exponent_sign = "+" if exponent >= 0 else "-"
        head = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{head}e{exponent_sign}{abs(exponent)}"
    return sign + text


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalisationError(f"integer {value} is outside ±(2^53-1) and has no exact JSON form")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalisationError(f"object key {key!r} is not a string")
        out.append("{")
        for position, key in enumerate(sorted(value, key=_utf16_key)):
            if position:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalisationError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: object) -> bytes:
    """The RFC 8785 (JCS) canonical form of a JSON value, as UTF-8 bytes."""
    out: list[str] = []
    _write(value, out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as error:
        raise CanonicalisationError("a string holds a lone surrogate, which is not Unicode text") from error


# ---------------------------------------------------------------------------------------------
# Leaf data: one event in CloudEvents JSON format (structured mode)

REQUIRED_ATTRIBUTES = (
    "specversion", "id", "source", "type", "subject", "time", "datacontenttype",
    "stream", "streamversion", "correlationid", "actor", "data",
)
# Omitted from the leaf data when absent or null.
OPTIONAL_ATTRIBUTES = ("causationid", "traceparent", "datakeyid")
EVENT_ATTRIBUTES = frozenset(REQUIRED_ATTRIBUTES + OPTIONAL_ATTRIBUTES)


def event_leaf_data(envelope: Mapping[str, object]) -> bytes:
    """The leaf data of an event: JCS of its CloudEvents JSON form (`Envelope.model_dump(mode="json")`)."""
    unknown = sorted(set(envelope) - EVENT_ATTRIBUTES)
    if unknown:
        raise CanonicalisationError(f"attributes not in the leaf data definition: {', '.join(unknown)}")
    event: dict[str, object] = {}
    for name in REQUIRED_ATTRIBUTES:
        if envelope.get(name) is None:
            raise CanonicalisationError(f"attribute {name} is missing")
        event[name] = envelope[name]
    for name in OPTIONAL_ATTRIBUTES:
        if envelope.get(name) is not None:
            event[name] = envelope[name]
    for name, value in event.items():
        if name == "streamversion":
            if not isinstance(value, int) or isinstance(value, bool):
                raise CanonicalisationError("attribute streamversion is not an integer")
        elif name == "data":
            if not isinstance(value, Mapping):
                raise CanonicalisationError("attribute data is not a JSON object")
        elif not isinstance(value, str):
            raise CanonicalisationError(f"attribute {name} is not a string (serialise with mode='json')")
    return canonical_json(event)


# ---------------------------------------------------------------------------------------------
# RFC 9162 §2.1: the Merkle tree


def leaf_hash(leaf_data: bytes) -> bytes:
    """SHA-256(0x00 ‖ leaf data)."""
    return hashlib.sha256(LEAF_PREFIX + leaf_data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, level by level (an odd last node moves up unchanged)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    sha256 = hashlib.sha256
    while len(level) > 1:
        carry = [level[-1]] if len(level) % 2 else []
        pairs = zip(level[0::2], level[1::2], strict=False)
        level = [sha256(b"\x01" + left + right).digest() for left, right in pairs]
        level.extend(carry)
    return level[0]


class MerkleTree:
    """An append-only RFC 9162 Merkle tree held in memory.

    Level k keeps the roots of the complete, aligned subtrees of 2^k leaves, 32 bytes each in one
    bytearray: appending is O(log n) and the root or a proof of any earlier size is O(log n) hashes.
    Every aligned complete subtree of the first `size` leaves is a node of the tree of that size,
    which is why the cache serves any size.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> MerkleTree:
        """A tree holding these leaf hashes, in order (for rebuilds and at start).

        Level by level, each level's complete pairs hashed in one loop: the same levels as
        appending the leaves one by one, in a third of the time.
        """
        leaves = list(hashes)
        for hash_ in leaves:
            if len(hash_) != HASH_SIZE:
                raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(hash_)}")
        tree = cls()
        tree._levels = [bytearray(b"".join(leaves))]
        tree._size = len(leaves)
        node_prefix = hashlib.sha256(NODE_PREFIX)
        pair = 2 * HASH_SIZE
        while len(tree._levels[-1]) >= pair:
            above = bytearray()
            with memoryview(tree._levels[-1]) as below:  # released: the level may grow later
                for start in range(0, len(below) // pair * pair, pair):
                    hashing = node_prefix.copy()
                    hashing.update(below[start:start + pair])
                    above += hashing.digest()
            tree._levels.append(above)
        return tree

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append a leaf hash; return its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf_hash)}")
        index = self._size
        self._levels[0] += leaf_hash
        self._size += 1
        position, level, node = index, 0, bytes(leaf_hash)
        while position & 1:  # this node completes a pair: its parent becomes complete too
            stored = self._levels[level]
            left = bytes(stored[(position - 1) * HASH_SIZE:position * HASH_SIZE])
            node = node_hash(left, node)
            position >>= 1
            level += 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node
        return index

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf `index`."""
        if not 0 <= index < self._size:
            raise IndexError(f"leaf {index} is not in a tree of size {self._size}")
        return bytes(self._levels[0][index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} is not within the tree's size {self._size}")

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size, from the cache."""
        length = end - start
        if length & (length - 1) == 0 and start % length == 0:
            level = length.bit_length() - 1
            position = start >> level
            return bytes(self._levels[level][position * HASH_SIZE:(position + 1) * HASH_SIZE])
        split = _largest_power_of_two_below(length)
        return node_hash(self._subtree(start, start + split), self._subtree(start + split, end))

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all leaves when None)."""
        size = self._size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, from the leaf up."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of size {size}")
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            split = _largest_power_of_two_below(end - start)
            if index < start + split:
                proof.append(self._subtree(start + split, end))
                end = start + split
            else:
                proof.append(self._subtree(start, start + split))
                start += split
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1 (empty when old_size is 0 or new_size)."""
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is not within 0..{new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        start, end, whole = 0, new_size, True
        # SUBPROOF(m, D[start:end], whole), unrolled: m is relative to start.
        m = old_size
        while m != end - start:
            split = _largest_power_of_two_below(end - start)
            if m <= split:
                proof.append(self._subtree(start + split, end))
                end = start + split
            else:
                proof.append(self._subtree(start, start + split))
                start += split
                m -= split
                whole = False
        if not whole:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof


def inclusion_proof_length(index: int, size: int) -> int:
    """The number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    length, start, end = 0, 0, size
    while end - start > 1:
        split = _largest_power_of_two_below(end - start)
        if index < start + split:
            end = start + split
        else:
            start += split
        length += 1
    return length


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show this leaf hash at `index` in the tree of `size` and `root`?"""
    if not 0 <= index < size or any(len(hash_) != HASH_SIZE for hash_ in proof):
        return False
    fn, sn = index, size - 1
    result = leaf_hash
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of `new_size` with `new_root` an extension of `old_size`, `old_root`?"""
    if not 0 <= old_size <= new_size or any(len(hash_) != HASH_SIZE for hash_ in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(sibling, first)
            second = node_hash(sibling, second)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second = node_hash(second, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == new_root


# ---------------------------------------------------------------------------------------------
# C2SP signed notes and tlog checkpoints

ED25519_SIGNATURE_TYPE = b"\x01"
TIME_EXTENSION = "time "
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A checkpoint or signed note that is malformed or does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise NoteError(f"{what} is not standard base64") from error


def _check_key_name(name: str) -> None:
    if not name or any(character.isspace() or character == "+" for character in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, as in the checkpoint's time line: 2025-04-01T09:30:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """The inverse of format_time; refuses any other layout."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", text):
        raise NoteError(f"time {text!r} is not RFC 3339 UTC to the second (YYYY-MM-DDTHH:MM:SSZ)")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise NoteError(f"time {text!r} is not a valid date and time") from error


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint: origin, tree size, root hash, and our signed `time` extension line."""

    origin: str
    size: int
    root: bytes
    time: datetime | None = None
    extensions: tuple[str, ...] = field(default=())  # other extension lines, kept verbatim

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("the origin must be a non-empty single line")
        if self.size < 0:
            raise NoteError("the tree size must not be negative")
        if len(self.root) != HASH_SIZE:
            raise NoteError(f"the root hash must be {HASH_SIZE} bytes")
        if self.time is not None:
            if self.time.tzinfo is None:
                raise NoteError("the checkpoint time must be timezone-aware")
            object.__setattr__(self, "time", self.time.astimezone(UTC).replace(microsecond=0))
        for line in self.extensions:
            if not line or "\n" in line or line.startswith(TIME_EXTENSION):
                raise NoteError(f"extension line {line!r} must be a non-empty single line other than time")

    def body(self) -> bytes:
        """The note body: origin, size, base64 root, then the time line and other extensions."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        if self.time is not None:
            lines.append(TIME_EXTENSION + format_time(self.time))
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def parse(cls, body: bytes | str) -> Checkpoint:
        """Parse a checkpoint body (not a whole signed note: see split_note)."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        if not text.endswith("\n"):
            raise NoteError("the checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("the checkpoint body needs an origin, a tree size and a root hash line")
        origin, size_text, root_text, *rest = lines
        if not _DECIMAL.fullmatch(size_text):
            raise NoteError(f"tree size {size_text!r} is not a decimal number without leading zeros")
        root = _b64decode(root_text, "the root hash line")
        if base64.b64encode(root).decode("ascii") != root_text:
            raise NoteError("the root hash line is not canonical base64")
        moment: datetime | None = None
        extensions: list[str] = []
        for line in rest:
            if line.startswith(TIME_EXTENSION) and moment is None:
                moment = parse_time(line[len(TIME_EXTENSION):])
            else:
                extensions.append(line)
        checkpoint = cls(origin, int(size_text), root, moment, tuple(extensions))
        if checkpoint.body() != text.encode("utf-8"):
            raise NoteError("the checkpoint body is not in canonical layout (time first among extensions)")
        return checkpoint


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a signed note."""

    name: str
    key_id: bytes
    signature: bytes


def split_note(note_text: str) -> tuple[bytes, list[NoteSignature]]:
    """Split a signed note into its body (bytes, ending in a newline) and its signature lines."""
    if not note_text.endswith("\n"):
        raise NoteError("the note must end with a newline")
    split = note_text.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line between its body and its signatures")
    body, signature_text = note_text[:split + 1], note_text[split + 2:]
    if "\n\n" in body or any(ord(character) < 0x20 and character != "\n" for character in body):
        raise NoteError("the note body must not hold blank lines or control characters")
    signatures: list[NoteSignature] = []
    for number, line in enumerate(signature_text[:-1].split("\n"), start=1):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash and a space")
        parts = line[len(_SIGNATURE_PREFIX):].split(" ")
        if len(parts) != 2:
            raise NoteError(f"signature line {number} is not '\u2014 <key name> <base64>'")
        raw = _b64decode(parts[1], f"signature line {number}")
        if len(raw) < 5:
            raise NoteError(f"signature line {number} is too short")
        signatures.append(NoteSignature(parts[0], raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("the note has no signature lines")
    return body.encode("utf-8"), signatures


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_SIGNATURE_TYPE + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class NoteSigner:
    """Signs checkpoints as C2SP signed notes with an Ed25519 key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name)
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = ed25519_key_id(name, _raw_public(self.public_key))

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """A signer from a 32-byte Ed25519 seed (RFC 8032 private key)."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """A signer from a private key string: PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>."""
        parts = skey.strip().split("+", 4)  # base64 may hold "+"
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a private key string is PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        raw = _b64decode(parts[4], "the private key")
        if len(raw) != 33 or raw[:1] != ED25519_SIGNATURE_TYPE:
            raise NoteError("the private key is not an Ed25519 key (0x01 followed by a 32-byte seed)")
        signer = cls.from_seed(parts[2], raw[1:])
        if signer.key_id.hex() != parts[3]:
            raise NoteError("the private key's id does not match its name and key")
        return signer

    def signer_key_string(self) -> str:
        """PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>: keep it secret."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(ED25519_SIGNATURE_TYPE + seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier_key_string(self) -> str:
        """The public verifier key: <name>+<hex id>+<base64(0x01 ‖ public key)>."""
        return self.verifier().verifier_key_string()

    def verifier(self) -> NoteVerifier:
        """The verifier of this signer's notes."""
        return NoteVerifier(self.name, self.public_key)

    def sign_body(self, body: bytes) -> str:
        """A signed note of any body (which must end with a newline)."""
        if not body.endswith(b"\n") or b"\n\n" in body:
            raise NoteError("a note body ends with a newline and holds no blank line")
        signature = self._private_key.sign(body)
        encoded = base64.b64encode(self.key_id + signature).decode("ascii")
        return body.decode("utf-8") + "\n" + f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"

    def sign(self, checkpoint: Checkpoint) -> str:
        """The full signed note text of a checkpoint."""
        return self.sign_body(checkpoint.body())


class NoteVerifier:
    """Verifies C2SP signed notes from one Ed25519 key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_key_name(name)
        self.name = name
        self.public_key = public_key
        self.key_id = ed25519_key_id(name, _raw_public(public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """A verifier from a verifier key string: <name>+<hex id>+<base64(0x01 ‖ public key)>."""
        parts = vkey.strip().split("+", 2)  # base64 may hold "+"
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<hex key id>+<base64 key>")
        name, id_text, key_text = parts
        _check_key_name(name)
        raw = _b64decode(key_text, "the verifier key")
        if len(raw) != 33 or raw[:1] != ED25519_SIGNATURE_TYPE:
            raise NoteError("the verifier key is not an Ed25519 key (0x01 followed by 32 bytes)")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if not re.fullmatch(r"[0-9a-f]{8}", id_text) or verifier.key_id.hex() != id_text:
            raise NoteError(f"the key id {id_text!r} does not match the key name and public key")
        return verifier

    def verifier_key_string(self) -> str:
        """<name>+<hex id>+<base64(0x01 ‖ public key)>."""
        encoded = base64.b64encode(ED25519_SIGNATURE_TYPE + _raw_public(self.public_key)).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify_body(self, note_text: str) -> bytes:
        """The body of a note signed by this key; NoteError when unsigned by it or the signature is bad."""
        body, signatures = split_note(note_text)
        mine = [s for s in signatures if s.name == self.name and s.key_id == self.key_id]
        if not mine:
            raise NoteError(f"the note carries no signature by key {self.name}+{self.key_id.hex()}")
        for signature in mine:
            try:
                self.public_key.verify(signature.signature, body)
            except InvalidSignature:
                continue
            return body
        raise NoteError(f"the signature by key {self.name}+{self.key_id.hex()} does not verify")

    def verify(self, note_text: str) -> Checkpoint:
        """The checkpoint of a note signed by this key; NoteError otherwise."""
        return Checkpoint.parse(self.verify_body(note_text))


def open_checkpoint(note_text: str, verifiers: Sequence[NoteVerifier]) -> tuple[Checkpoint, NoteVerifier]:
    """The checkpoint and the first of `verifiers` that verifies it (key rotation); NoteError if none."""
    errors: list[str] = []
    for verifier in verifiers:
        try:
            return verifier.verify(note_text), verifier
        except NoteError as error:
            errors.append(str(error))
    if not verifiers:
        raise NoteError("no verifier keys were given")
    raise NoteError("no key verifies the note: " + "; ".join(errors))
