"""The in-memory trigram index gives exactly what comparing every text one by one gives: the
same texts, the same similarity, the same order, through the built part and the delta alike."""

from __future__ import annotations

import functools
import random
import uuid
from datetime import date

import pytest

from dhr_recommendations import similarity
from dhr_recommendations.similarity import Entry, TrigramIndex, trigrams

THEMES = ("training", "policy", "record_keeping", "identification_of_risk")
TYPES = ("police", "housing", "health_services")
SENTENCE = ("the police should ensure that officers review risk assessments within days of a "
            "MARAC referral and record coercive control housing teams must share information "
            "with health visitors GPs audit 95% of cases by 2027 training for staff on stalking "
            "and honour based abuse")
WORDS = SENTENCE.split()


def make_corpus(count: int, seed: int) -> list[Entry]:
    rng = random.Random(seed)
    reviews = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(count // 3 + 1)]
    base = [" ".join(rng.choices(WORDS, k=rng.randint(8, 25))) for _ in range(count // 10 + 1)]
    entries = []
    for _ in range(count):
        words = rng.choice(base).split()
        for _ in range(rng.randint(0, 6)):  # reword a little: near duplicates and strangers
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        entries.append(Entry(
            recommendation_id=uuid.UUID(int=rng.getrandbits(128)),
            review_id=rng.choice(reviews),
            issued_on=date(2015, 1, 1).toordinal() + rng.randrange(3000),
            themes=frozenset(rng.sample(THEMES, rng.randint(1, 2))),
            addressee_types=frozenset(rng.sample(TYPES, rng.randint(1, 2))),
            text=" ".join(words) + rng.choice(("", ".", " (Essex)", " – by 2026-03-01"))))
    return entries


@functools.cache
def trigrams_of(text: str) -> frozenset[str]:
    return trigrams(text)


def brute_force(entries: list[Entry], text: str, threshold: float, themes=(),
                addressee_types=(), other_than_review=None, limit=None) -> list[tuple[uuid.UUID,
                                                                                     float]]:
    query = trigrams_of(text)
    found = []
    for e in entries:
        if e.review_id == other_than_review:
            continue
        if (themes or addressee_types) and not (e.themes & set(themes)
                                                or e.addressee_types & set(addressee_types)):
            continue
        other = trigrams_of(e.text)
        value = len(query & other) / len(query | other) if query | other else 0.0
        if value >= threshold:
            found.append((value, e.issued_on, e.recommendation_id))
    found.sort(key=lambda f: (-f[0], f[1], f[2]))
    return [(f[2], f[0]) for f in found[:limit]]


def results(index: TrigramIndex, text: str, threshold: float, **filters) -> list[tuple[uuid.UUID,
                                                                                       float]]:
    return [(m.recommendation_id, m.similarity)
            for m in index.search(text, threshold=threshold, **filters)]


def assert_same(actual, expected) -> None:
    assert [a[0] for a in actual] == [e[0] for e in expected]
    assert [a[1] for a in actual] == pytest.approx([e[1] for e in expected])


def test_trigrams_are_pg_trgms_lower_cased_padded_words() -> None:
    assert trigrams("Cat!") == {"  c", " ca", "cat", "at "}
    assert trigrams("a-b 12") == {"  a", " a ", "  b", " b ", "  1", " 12", "12 "}
    assert trigrams("") == frozenset() and trigrams("--- !!") == frozenset()
    # Under the C locale only ASCII letters and digits make words, under another any letter.
    assert trigrams("café") == trigrams("caf é") - trigrams("é") | trigrams("caf")
    assert "afé" in trigrams("café", ascii_words=False)


@pytest.mark.parametrize("dense_fraction", [64, 4, 1_000_000])  # bits, mixed, postings only
def test_built_index_finds_exactly_what_comparing_every_text_finds(
        monkeypatch: pytest.MonkeyPatch, dense_fraction: int) -> None:
    monkeypatch.setattr(similarity, "DENSE_FRACTION", dense_fraction)
    entries = make_corpus(1500, seed=1)
    index = TrigramIndex()
    index.add(entries)
    index.build()
    rng = random.Random(2)
    for probe in rng.sample(entries, 40):
        text = probe.text.replace("police", "constabulary")
        for threshold in (0.3, 0.5, 0.8):
            assert_same(results(index, text, threshold),
                        brute_force(entries, text, threshold))
        themes, types = sorted(probe.themes), sorted(probe.addressee_types)[:1]
        assert_same(results(index, text, 0.4, themes=themes, addressee_types=types,
                            other_than_review=probe.review_id, limit=7),
                    brute_force(entries, text, 0.4, themes, types, probe.review_id, 7))


def test_texts_added_after_the_build_are_found_from_the_delta_until_the_next_build() -> None:
    entries = make_corpus(1200, seed=3)
    index = TrigramIndex()
    index.add(entries[:1000])
    index.build()
    assert index.add(entries[1000:] + entries[:5]) == 200  # the known five are skipped
    assert not index.build_if_due()  # a small delta is compared one by one
    probes = random.Random(4).sample(entries, 25)
    before = [results(index, p.text, 0.45, themes=sorted(p.themes)) for p in probes]
    for p, found in zip(probes, before, strict=True):
        assert_same(found, brute_force(entries, p.text, 0.45, sorted(p.themes)))

    index.build()

    assert [results(index, p.text, 0.45, themes=sorted(p.themes)) for p in probes] == before


def test_a_big_enough_delta_is_built_and_an_unknown_filter_finds_nothing() -> None:
    entries = make_corpus(2600, seed=5)
    index = TrigramIndex()
    index.add(entries)
    assert index.build_if_due() and not index.build_if_due()
    assert len(index) == 2600 and entries[7].recommendation_id in index
    assert index.search(entries[0].text, threshold=0.1, themes=["military"]) == []
    assert index.search("", threshold=0.1) == []
    assert TrigramIndex().search("anything", threshold=0.1) == []
