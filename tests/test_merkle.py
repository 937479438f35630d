"""RFC 6962 Merkle trees (cityhub.merkle): the Certificate Transparency test vectors, every proof of every tree up
to 64 leaves against a naive recursive reference, random larger trees, and tampered proofs refused."""

from __future__ import annotations

import hashlib
import random

import pytest

from cityhub import merkle

# -- RFC 6962 / Certificate Transparency test vectors (transparency-dev/merkle, proof/verify_test.go and
#    rfc6962/rfc6962_test.go; the same leaves as certificate-transparency's merkle tree tests) -----------------

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
H = bytes.fromhex
# (leaf index 1-based as in the Go vectors, tree size, path)
INCLUSION = [
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (3, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (2, 5, [H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
CONSISTENCY = [
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]


def _getter(leaf_hashes: list[bytes]) -> merkle.GetNode:
    def get(level: int, index: int) -> bytes:
        return merkle.perfect_subtree(leaf_hashes[index << level:(index + 1) << level])
    return get


def test_hasher_vectors() -> None:
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert merkle.node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
    assert merkle.root([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_root_vectors(size: int) -> None:
    hashes = [merkle.leaf_hash(d) for d in LEAVES[:size]]
    assert merkle.root(hashes) == ROOTS[size - 1]
    assert _naive_root(hashes) == ROOTS[size - 1]


@pytest.mark.parametrize("leaf, size, path", INCLUSION)
def test_inclusion_vectors(leaf: int, size: int, path: list[bytes]) -> None:
    hashes = [merkle.leaf_hash(d) for d in LEAVES[:size]]
    assert merkle.inclusion_proof(leaf - 1, size, _getter(hashes)) == path
    assert merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], path, ROOTS[size - 1])
    # the corruptions of the Go test suite are all refused
    root = ROOTS[size - 1]
    lh = hashes[leaf - 1]
    some = H("abacaba000000000000000000000000000000000000000000060061e00123456")
    bad = [(leaf - 2, size, lh, path, root), (leaf, size, lh, path, root), ((leaf - 1) ^ 2, size, lh, path, root),
           (leaf - 1, size * 2, lh, path, root), (leaf - 1, size // 2, lh, path, root),
           (leaf - 1, size, b"WrongLeaf", path, root), (leaf - 1, size, lh, path, merkle.EMPTY_ROOT),
           (leaf - 1, size, lh, path, some), (leaf - 1, size, lh, [*path, b""], root),
           (leaf - 1, size, lh, [*path, root], root), (leaf - 1, size, lh, [b"", *path], root),
           (leaf - 1, size, lh, [root, *path], root), (leaf - 1, size, lh, path[:-1], root)]
    if len(path) > 1:
        bad.append((leaf - 1, size, lh, [path[0], some, *path[1:]], root))
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((leaf - 1, size, lh, flipped, root))
    for index, sz, leaf_h, proof, r in bad:
        assert not merkle.verify_inclusion(index, sz, leaf_h, proof, r), (index, sz)


@pytest.mark.parametrize("size1, size2, path", CONSISTENCY)
def test_consistency_vectors(size1: int, size2: int, path: list[bytes]) -> None:
    hashes = [merkle.leaf_hash(d) for d in LEAVES[:size2]]
    assert merkle.consistency_proof(size1, size2, _getter(hashes)) == path
    r1, r2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert merkle.verify_consistency(size1, size2, r1, r2, path)
    bad = [(size1 - 1, size2, r1, r2, path), (size1 + 1, size2, r1, r2, path), (size1 ^ 2, size2, r1, r2, path),
           (size1, size2 * 2, r1, r2, path), (size1, size2 // 2, r1, r2, path),
           (size1, size2, b"WrongRoot", r2, path), (size1, size2, r1, b"WrongRoot", path),
           (size1, size2, r2, r1, path), (size1, size2, r1, r2, []), (size1, size2, r1, r2, [*path, b""]),
           (size1, size2, r1, r2, [*path, r1]), (size1, size2, r1, r2, [*path, r2]),
           (size1, size2, r1, r2, [b"", *path]), (size1, size2, r1, r2, [r1, *path]),
           (size1, size2, r1, r2, [r2, *path]), (size1, size2, r1, r2, [path[0], *path]),
           (size1, size2, r1, r2, path[:-1])]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((size1, size2, r1, r2, flipped))
    for s1, s2, a, b, proof in bad:
        assert not merkle.verify_consistency(s1, s2, a, b, proof), (s1, s2)


def test_trivial_consistency() -> None:
    r1, r2 = b"x" * 32, b"y" * 32
    assert merkle.verify_consistency(0, 0, r1, r1, [])
    assert merkle.verify_consistency(0, 1, r1, r2, [])
    assert merkle.verify_consistency(1, 1, r2, r2, [])
    assert not merkle.verify_consistency(1, 1, r1, r2, [])
    assert not merkle.verify_consistency(1, 0, r1, r2, [])
    assert not merkle.verify_consistency(1, 2, r1, r2, [])
    assert not merkle.verify_consistency(1, 1, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [merkle.EMPTY_ROOT])


# -- every tree up to 64 leaves, and random larger ones, against the RFC's recursive definitions --------------


def _naive_root(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(_naive_root(hashes[:k]), _naive_root(hashes[k:]))


def _naive_path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*_naive_path(m, hashes[:k]), _naive_root(hashes[k:])]
    return [*_naive_path(m - k, hashes[k:]), _naive_root(hashes[:k])]


def _naive_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [_naive_root(hashes)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_naive_subproof(m, hashes[:k], whole), _naive_root(hashes[k:])]
    return [*_naive_subproof(m - k, hashes[k:], False), _naive_root(hashes[:k])]


def _leaves(n: int, seed: int = 0) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(f"{seed}:{i}".encode()).digest()) for i in range(n)]


def _check_size(hashes: list[bytes], n: int, indexes: range | list[int], olds: range | list[int]) -> None:
    get = _getter(hashes)
    root_n = _naive_root(hashes[:n])
    frontier = merkle.Frontier()
    for h in hashes[:n]:
        frontier.append(h)
    assert frontier.root() == root_n == merkle.root(hashes[:n])
    assert merkle.Frontier.from_bytes(n, frontier.to_bytes()).root() == root_n
    for m in indexes:
        proof = merkle.inclusion_proof(m, n, get)
        assert proof == _naive_path(m, hashes[:n])
        assert len(proof) <= (n - 1).bit_length()
        assert merkle.verify_inclusion(m, n, hashes[m], proof, root_n)
        assert not merkle.verify_inclusion(m, n, hashes[m - 1] if m else hashes[-1], proof, root_n) or n == 1
    for old in olds:
        proof = merkle.consistency_proof(old, n, get)
        assert proof == (_naive_subproof(old, hashes[:n], True) if 0 < old < n else [])
        assert len(proof) <= 2 * n.bit_length()
        assert merkle.verify_consistency(old, n, _naive_root(hashes[:old]) if old else merkle.EMPTY_ROOT, root_n,
                                         proof)
        if 0 < old < n:
            assert not merkle.verify_consistency(old, n, root_n, root_n, proof)


@pytest.mark.parametrize("n", range(1, 65))
def test_every_proof_up_to_64(n: int) -> None:
    hashes = _leaves(64)
    _check_size(hashes, n, range(n), range(0, n + 1))


def test_random_larger_trees() -> None:
    rng = random.Random(6962)
    for _ in range(6):
        n = rng.randint(65, 3000)
        hashes = _leaves(n, seed=n)
        _check_size(hashes, n, [*rng.sample(range(n), 12), 0, n - 1], [*rng.sample(range(1, n), 12), 1, n - 1])


def test_frontier_yields_every_completed_subtree() -> None:
    hashes = _leaves(100)
    frontier = merkle.Frontier()
    seen = {}
    for h in hashes:
        for node in frontier.append(h):
            seen[(node.level, node.index)] = node.hash
    get = _getter(hashes)
    expected = {(lvl, i) for lvl in range(1, 7) for i in range(100 >> lvl)}
    assert set(seen) == expected
    assert all(seen[k] == get(*k) for k in expected)


def test_bad_arguments() -> None:
    get = _getter(_leaves(4))
    with pytest.raises(ValueError):
        merkle.inclusion_proof(4, 4, get)
    with pytest.raises(ValueError):
        merkle.consistency_proof(5, 4, get)
    with pytest.raises(ValueError):
        merkle.Frontier(3, [b"x" * 32])
    with pytest.raises(ValueError):
        merkle.Frontier.from_bytes(1, b"short")
    assert not merkle.verify_inclusion(0, 0, b"x" * 32, [], b"x" * 32)
