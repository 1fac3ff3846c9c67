"""The RFC 9162 Merkle tree: the Certificate Transparency test vectors and proofs for every size."""

import hashlib

import pytest

from dhr_oversight.ledger import (
    EMPTY_ROOT,
    MerkleTree,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# The test tree of the Certificate Transparency reference implementation (merkle_tree_test.cc).
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {  # (leaf, size): path
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_CONSISTENCY = {  # (old size, new size): proof
    (1, 8): CT_INCLUSION[(0, 8)],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}


def ct_tree() -> MerkleTree:
    return MerkleTree.from_leaf_hashes(leaf_hash(leaf) for leaf in CT_LEAVES)


def test_the_empty_tree_has_the_hash_of_the_empty_string() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest() == root_from_leaf_hashes([])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_the_roots_of_the_certificate_transparency_test_tree(size: int) -> None:
    assert ct_tree().root(size).hex() == CT_ROOTS[size - 1]
    assert root_from_leaf_hashes([leaf_hash(leaf) for leaf in CT_LEAVES[:size]]).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("position", "path"), CT_INCLUSION.items())
def test_the_inclusion_proofs_of_the_certificate_transparency_test_tree(
        position: tuple[int, int], path: list[str]) -> None:
    assert [hash_.hex() for hash_ in ct_tree().inclusion_proof(*position)] == path


@pytest.mark.parametrize(("sizes", "path"), CT_CONSISTENCY.items())
def test_the_consistency_proofs_of_the_certificate_transparency_test_tree(
        sizes: tuple[int, int], path: list[str]) -> None:
    assert [hash_.hex() for hash_ in ct_tree().consistency_proof(*sizes)] == path


SIZES = 70


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return MerkleTree.from_leaf_hashes(leaf_hash(f"event {n}".encode()) for n in range(SIZES))


def test_the_root_of_every_size_equals_the_level_by_level_root(tree: MerkleTree) -> None:
    hashes = [tree.leaf_hash(index) for index in range(SIZES)]
    for size in range(SIZES + 1):
        assert tree.root(size) == root_from_leaf_hashes(hashes[:size])


def test_every_inclusion_proof_for_every_size_verifies(tree: MerkleTree) -> None:
    for size in range(1, SIZES + 1):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert len(proof) == inclusion_proof_length(index, size)
            assert verify_inclusion(tree.leaf_hash(index), index, size, proof, root)


def test_every_tampered_inclusion_proof_fails(tree: MerkleTree) -> None:
    for size in range(1, SIZES + 1):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            leaf = tree.leaf_hash(index)
            assert not verify_inclusion(leaf_hash(b"other"), index, size, proof, root)
            assert not verify_inclusion(leaf, index, size, proof, leaf_hash(b"other root"))
            assert not verify_inclusion(leaf, size, size, proof, root)
            if size > 1:
                assert not verify_inclusion(leaf, (index + 1) % size, size, proof, root)
            for position in range(len(proof)):
                flipped = [*proof]
                flipped[position] = bytes([flipped[position][0] ^ 1]) + flipped[position][1:]
                assert not verify_inclusion(leaf, index, size, flipped, root)
            if proof:
                assert not verify_inclusion(leaf, index, size, proof[:-1], root)
            assert not verify_inclusion(leaf, index, size, [*proof, root], root)


def test_every_consistency_proof_between_every_pair_of_sizes_verifies(tree: MerkleTree) -> None:
    for new_size in range(SIZES + 1):
        for old_size in range(new_size + 1):
            proof = tree.consistency_proof(old_size, new_size)
            assert verify_consistency(old_size, new_size, tree.root(old_size), tree.root(new_size), proof)


def test_every_tampered_consistency_proof_fails(tree: MerkleTree) -> None:
    other = leaf_hash(b"other")
    for new_size in range(1, SIZES + 1):
        for old_size in range(1, new_size):
            proof = tree.consistency_proof(old_size, new_size)
            old_root, new_root = tree.root(old_size), tree.root(new_size)
            assert not verify_consistency(old_size, new_size, other, new_root, proof)
            assert not verify_consistency(old_size, new_size, old_root, other, proof)
            assert not verify_consistency(old_size + 1, new_size, old_root, new_root, proof)
            assert not verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
            assert not verify_consistency(old_size, new_size, old_root, new_root, [*proof, other])
            for position in range(len(proof)):
                flipped = [*proof]
                flipped[position] = bytes([flipped[position][0] ^ 1]) + flipped[position][1:]
                assert not verify_consistency(old_size, new_size, old_root, new_root, flipped)


def test_a_tree_with_another_history_is_not_consistent(tree: MerkleTree) -> None:
    forked = MerkleTree.from_leaf_hashes(tree.leaf_hash(index) for index in range(30))
    forked.append(leaf_hash(b"rewritten history"))
    for index in range(31, SIZES):
        forked.append(tree.leaf_hash(index))
    for old_size in range(31, SIZES):
        proof = forked.consistency_proof(old_size, SIZES)
        assert not verify_consistency(old_size, SIZES, tree.root(old_size), forked.root(SIZES), proof)
    proof = forked.consistency_proof(30, SIZES)
    assert verify_consistency(30, SIZES, tree.root(30), forked.root(SIZES), proof)


def test_appending_returns_the_index_and_proofs_of_earlier_sizes_stay_available() -> None:
    tree = MerkleTree()
    assert [tree.append(leaf_hash(bytes([n]))) for n in range(5)] == [0, 1, 2, 3, 4]
    assert tree.size == 5
    with pytest.raises(ValueError, match="not within"):
        tree.root(6)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"short")
