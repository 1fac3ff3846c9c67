"""An in-memory trigram index that finds every text whose pg_trgm similarity to a query text
reaches a threshold, without asking PostgreSQL to recompute trigrams row by row.

Recommendations share most of their vocabulary, so any two are 0.2 to 0.35 similar: the trigram
GIN index passes thousands of candidates and PostgreSQL's recheck costs ~70 us each (it extracts
both texts' trigrams every time). Here every text's trigram set is extracted once and the
similarity of the query to *every* text is computed at once with numpy, exactly:

    similarity(a, b) = |T(a) & T(b)| / (|T(a)| + |T(b)| - |T(a) & T(b)|)

which is pg_trgm's `similarity()` (T as pg_trgm extracts it, see `trigrams`). The shared count
comes from two parts:

- the commonest trigrams (those in at least 1/64 of the texts, at most 1,024 of them) as a bit
  matrix, one row of 64-bit words per text: AND with the query's bits, popcount, sum;
- every other trigram from its posting list (the texts that have it), counted with bincount.

Texts added since the matrix was built wait in a small delta, compared one by one, until the
delta is big enough to rebuild. Nothing is removed: the library only grows, and the caller
rechecks what it returns against the database anyway.

Pure: no I/O. The caller (library.LibraryIndex) feeds it rows and rechecks candidates in SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

# pg_trgm pads each word with two blanks before and one after.
_LEFT, _RIGHT = "  ", " "
# Under the C locale (our clusters run initdb --no-locale) pg_trgm's words are runs of ASCII
# letters and digits; under another locale, of any letters and digits.
_ASCII_WORDS = re.compile(r"[a-z0-9]+")
_UNICODE_WORDS = re.compile(r"[^\W_]+")

DENSE_FRACTION = 64  # a trigram in at least 1/64 of the texts goes into the bit matrix
DENSE_MAX = 1024
DELTA_MAX = 2000
WORD_CACHE_MAX = 500_000  # rebuild once this many texts (or a tenth of the index) wait in the delta

IntArray = npt.NDArray[np.int32]


def words(text: str, *, ascii_words: bool = True) -> set[str]:
    """The distinct words pg_trgm sees in `text`, lower-cased."""
    return set((_ASCII_WORDS if ascii_words else _UNICODE_WORDS).findall(text.lower()))


def word_trigrams(word: str) -> list[str]:
    padded = _LEFT + word + _RIGHT
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


def trigrams(text: str, *, ascii_words: bool = True) -> frozenset[str]:
    """The trigram set pg_trgm extracts from `text` (lower-cased words, padded)."""
    found: set[str] = set()
    for word in words(text, ascii_words=ascii_words):
        found.update(word_trigrams(word))
    return frozenset(found)


@dataclass(frozen=True)
class Entry:
    """One text of the index with what a lookup filters on."""

    recommendation_id: UUID
    review_id: UUID
    issued_on: int  # date.toordinal(), for the tie-break of equal similarity
    themes: frozenset[str]
    addressee_types: frozenset[str]
    text: str


@dataclass(frozen=True)
class Match:
    recommendation_id: UUID
    similarity: float


class TrigramIndex:
    """Similarity of a query text to every indexed text; see the module docstring."""

    def __init__(self, *, ascii_words: bool = True) -> None:
        self.ascii_words = ascii_words
        self._vocabulary: dict[str, int] = {}
        self._word_ids: dict[str, tuple[int, ...]] = {}
        self._known: set[UUID] = set()
        self._ids: list[UUID] = []
        self._reviews: dict[UUID, int] = {}
        self._labels: dict[str, int] = {}  # theme or addressee type -> bit
        # Per text, in slot order (columns of the whole index).
        self._review_of: list[int] = []
        self._issued_on: list[int] = []
        self._labels_of: list[int] = []
        self._trigram_ids: list[IntArray] = []
        # The built part: texts [0, self._built).
        self._built = 0
        self._sizes: IntArray = np.zeros(0, dtype=np.int32)
        self._review_column: IntArray = np.zeros(0, dtype=np.int32)
        self._label_column: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._dense_position: IntArray = np.zeros(0, dtype=np.int32)  # vocabulary id -> bit | -1
        self._bits: npt.NDArray[np.uint64] = np.zeros((0, 0), dtype=np.uint64)
        self._postings: dict[int, IntArray] = {}
        # The delta: texts [self._built, len(self)), compared one by one (their sets made at
        # the first lookup that needs them).
        self._delta_sets: list[frozenset[int]] = []

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, recommendation_id: object) -> bool:
        return recommendation_id in self._known

    def add(self, entries: Iterable[Entry]) -> int:
        """Index the entries not indexed yet (in the delta until `build`); return how many
        were new."""
        added = 0
        for entry in entries:
            if entry.recommendation_id in self._known:
                continue
            self._known.add(entry.recommendation_id)
            ids = self._text_trigram_ids(entry.text)
            self._ids.append(entry.recommendation_id)
            self._review_of.append(self._reviews.setdefault(entry.review_id, len(self._reviews)))
            self._issued_on.append(entry.issued_on)
            self._labels_of.append(self._label_bits(entry.themes, "theme:")
                                   | self._label_bits(entry.addressee_types, "type:"))
            self._trigram_ids.append(ids)
            added += 1
        return added

    def build_if_due(self) -> bool:
        """Build once the delta is big enough to slow lookups down; return whether it did."""
        if len(self._ids) - self._built <= max(DELTA_MAX, self._built // 10):
            return False
        self.build()
        return True

    def build(self) -> None:
        """Fold every text into the bit matrix and posting lists (the delta empties)."""
        count = len(self._ids)
        sizes = np.fromiter((len(ids) for ids in self._trigram_ids), dtype=np.int32, count=count)
        flat = (np.concatenate(self._trigram_ids) if count else np.zeros(0, dtype=np.int32))
        slots = np.repeat(np.arange(count, dtype=np.int32), sizes)
        vocabulary = len(self._vocabulary)
        frequency = np.bincount(flat, minlength=vocabulary)
        cut = max(2, count // DENSE_FRACTION)
        dense_ids = np.flatnonzero(frequency >= cut)
        dense_ids = dense_ids[np.argsort(-frequency[dense_ids], kind="stable")][:DENSE_MAX]
        width = -(-len(dense_ids) // 64)  # 64-bit words per text
        position = np.full(vocabulary, -1, dtype=np.int32)
        position[dense_ids] = np.arange(len(dense_ids), dtype=np.int32)
        bit = position[flat]
        is_dense = bit >= 0
        matrix = np.zeros((count, width * 64), dtype=bool)
        matrix[slots[is_dense], bit[is_dense]] = True
        self._bits = np.packbits(matrix, axis=1, bitorder="little").view(np.uint64).reshape(
            count, width)
        rare_ids, rare_slots = flat[~is_dense], slots[~is_dense]
        order = np.argsort(rare_ids, kind="stable")
        rare_ids, rare_slots = rare_ids[order], rare_slots[order]
        starts = np.flatnonzero(np.r_[True, rare_ids[1:] != rare_ids[:-1]])
        ends = np.r_[starts[1:], len(rare_ids)]
        self._postings = ({} if not len(rare_ids) else {
            int(rare_ids[s]): rare_slots[s:e] for s, e in zip(starts, ends, strict=True)})
        self._dense_position = position
        self._sizes = sizes
        self._review_column = np.asarray(self._review_of, dtype=np.int32)
        self._label_column = np.asarray(self._labels_of, dtype=np.int64)
        self._built = count
        self._delta_sets = []

    def search(self, text: str, *, threshold: float, themes: Sequence[str] = (),
               addressee_types: Sequence[str] = (), other_than_review: UUID | None = None,
               limit: int | None = None) -> list[Match]:
        """Texts at least `threshold` similar to `text`, most similar first (then earliest
        issued, then by id, as the library orders them); with themes or addressee types, only
        those sharing one of them; at most `limit`."""
        query = trigrams(text, ascii_words=self.ascii_words)
        if not query or not self._ids:
            return []
        known = self._trigram_id_array(query)
        wanted = self._label_bits(themes, "theme:", grow=False) | self._label_bits(
            addressee_types, "type:", grow=False)
        if (themes or addressee_types) and not wanted:
            return []  # no indexed text has any of them
        excluded = -1 if other_than_review is None else self._reviews.get(other_than_review, -1)
        found: list[tuple[float, int]] = []
        if self._built:
            similarity = self._built_similarity(known, len(query))
            keep = similarity >= threshold
            if excluded >= 0:
                keep &= self._review_column != excluded
            if wanted:
                keep &= (self._label_column & wanted) != 0
            slots = np.flatnonzero(keep)
            found.extend(zip(similarity[slots].tolist(), slots.tolist(), strict=True))
        query_ids = frozenset(known.tolist())
        self._delta_sets.extend(frozenset(ids.tolist()) for ids in
                                self._trigram_ids[self._built + len(self._delta_sets):])
        for offset, members in enumerate(self._delta_sets):
            slot = self._built + offset
            if self._review_of[slot] == excluded or (wanted and not self._labels_of[slot] & wanted):
                continue
            shared = len(query_ids & members)
            value = shared / (len(query) + len(members) - shared)
            if value >= threshold:
                found.append((value, slot))
        found.sort(key=lambda pair: (-pair[0], self._issued_on[pair[1]], self._ids[pair[1]]))
        return [Match(self._ids[slot], value) for value, slot in found[:limit]]

    def _built_similarity(self, known: IntArray, query_size: int) -> npt.NDArray[np.float64]:
        shared = np.zeros(self._built, dtype=np.int32)
        if self._bits.shape[1]:
            built = known[known < len(self._dense_position)]  # newer trigrams: delta only
            positions = self._dense_position[built]
            query_bits = np.zeros(self._bits.shape[1] * 64, dtype=bool)
            query_bits[positions[positions >= 0]] = True
            words = np.packbits(query_bits, bitorder="little").view(np.uint64)
            shared += np.bitwise_count(self._bits & words).sum(axis=1, dtype=np.int32)
        postings = [self._postings[i] for i in known.tolist() if i in self._postings]
        if postings:
            shared += np.bincount(np.concatenate(postings), minlength=self._built).astype(
                np.int32)
        return shared / (query_size + self._sizes - shared)

    def _text_trigram_ids(self, text: str) -> IntArray:
        """The ids of a text's trigrams, new ones added to the vocabulary. Words recur far
        more than texts do, so each word's trigram ids are remembered."""
        found: set[int] = set()
        for word in words(text, ascii_words=self.ascii_words):
            ids = self._word_ids.get(word)
            if ids is None:
                vocabulary = self._vocabulary
                ids = tuple(vocabulary.setdefault(g, len(vocabulary))
                            for g in word_trigrams(word))
                if len(self._word_ids) < WORD_CACHE_MAX:
                    self._word_ids[word] = ids
            found.update(ids)
        return np.fromiter(found, dtype=np.int32, count=len(found))

    def _trigram_id_array(self, grams: frozenset[str]) -> IntArray:
        return np.asarray([self._vocabulary[g] for g in grams if g in self._vocabulary],
                          dtype=np.int32)

    def _label_bits(self, labels: Iterable[str], prefix: str, *, grow: bool = True) -> int:
        bits = 0
        for label in labels:
            key = prefix + label
            if key not in self._labels:
                if not grow:
                    continue
                if len(self._labels) >= 63:
                    raise ValueError("more than 63 themes and addressee types")
                self._labels[key] = len(self._labels)
            bits |= 1 << self._labels[key]
        return bits
