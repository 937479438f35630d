"""RFC 6962 Merkle hash trees (Certificate Transparency, §2.1), pure: no database, no web.

* leaf hash ``SHA-256(0x00 || d)``, node hash ``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256()``;
* ``MTH(D[n])`` splits at ``k``, the largest power of two smaller than ``n``;
* inclusion proofs (``PATH``) and consistency proofs (``PROOF``/``SUBPROOF``) as the RFC defines them, built in
  O(log n) from the hashes of *perfect aligned subtrees* that the caller supplies (``get_node(level, index)``:
  the hash of leaves ``[index·2^level, (index+1)·2^level)``), so a store that keeps leaf hashes and, optionally,
  the roots of larger subtrees answers them without reading the whole log;
* verification of both kinds of proof as RFC 9162 §2.1.3.2 and §2.1.4.2 describe (these are the functions an
  outside party needs, together with the leaf data and a signed tree head);
* ``Frontier``: the compact range ``[0, n)`` (at most one perfect subtree per set bit of ``n``), which appends a
  leaf in amortised O(1), yields the subtrees it completes and gives the root in O(log n).

Checked against the RFC 6962 test vectors of Certificate Transparency (``tests/test_merkle.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256

GetNode = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a whole list of leaf hashes (O(n) time, O(log n) extra memory)."""
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


def perfect_subtree(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree (the length must be a power of two)."""
    level = list(leaf_hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError("a perfect subtree has a power-of-two number of leaves")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def range_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """``MTH(D[start:end])`` for a range whose ``start`` is a multiple of a power of two ≥ ``end - start`` (every
    subtree an RFC 6962 proof names is such a range): the perfect subtrees of the binary decomposition of the
    length, folded from the right."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    parts: list[bytes] = []
    pos = start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            parts.append(get_node(level, pos >> level))
            pos += 1 << level
    acc = parts[-1]
    for part in reversed(parts[:-1]):
        acc = node_hash(part, acc)
    return acc


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """``PATH(index, D[size])``: the audit path of leaf ``index`` (0-based) in the tree of ``size`` leaves, from
    the leaf's sibling up to the root's child."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    out: list[bytes] = []

    def path(m: int, start: int, n: int) -> None:
        if n == 1:
            return
        k = _split(n)
        if m < k:
            path(m, start, k)
            out.append(range_hash(start + k, start + n, get_node))
        else:
            path(m - k, start + k, n - k)
            out.append(range_hash(start, start + k, get_node))

    path(index, 0, size)
    return out


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """``PROOF(old_size, D[new_size])``: proves that the first ``old_size`` leaves of the tree of ``new_size``
    leaves are the tree of ``old_size`` (empty when the sizes are equal or the old tree is empty)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    out: list[bytes] = []
    if old_size == 0 or old_size == new_size:
        return out

    def subproof(m: int, start: int, n: int, whole: bool) -> None:
        if m == n:
            if not whole:
                out.append(range_hash(start, start + n, get_node))
            return
        k = _split(n)
        if m <= k:
            subproof(m, start, k, whole)
            out.append(range_hash(start + k, start + n, get_node))
        else:
            subproof(m - k, start + k, n - k, False)
            out.append(range_hash(start, start + k, get_node))

    subproof(old_size, 0, new_size, True)
    return out


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf hash ``leaf`` at ``index`` (RFC 9162 §2.1.3.2); raises
    ``ValueError`` when the proof cannot be a path of that leaf in a tree of that size."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ValueError("hashes are 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves with ``root_hash``."""
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root_hash
    except ValueError:
        return False


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree (``old_size``, ``old_root``) is a prefix of (``new_size``, ``new_root``)
    (RFC 9162 §2.1.4.2)."""
    if not 0 <= old_size <= new_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass(frozen=True)
class Node:
    """A perfect subtree: leaves ``[index·2^level, (index+1)·2^level)``."""

    level: int
    index: int
    hash: bytes


class Frontier:
    """The roots of the perfect subtrees that make up ``[0, size)``, largest first (the right edge of the tree).

    ``append`` adds a leaf hash and returns the subtrees that it completed (level ≥ 1), so a store can keep the
    ones it wants; ``root()`` is ``MTH`` of everything appended. ``to_bytes``/``from_bytes`` keep it in a
    database row (at most 64 hashes)."""

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self._hashes = list(hashes)
        if len(self._hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of {size} leaves has {bin(size).count('1')} hashes")

    def append(self, leaf: bytes) -> list[Node]:
        done: list[Node] = []
        h = leaf
        index = self.size
        level = 0
        hashes = self._hashes
        while index & 1:  # each set low bit of the old size is a subtree of that level to merge with
            h = node_hash(hashes.pop(), h)
            level += 1
            index >>= 1
            done.append(Node(level, index, h))
        hashes.append(h)
        self.size += 1
        return done

    def push(self, leaf: bytes) -> None:
        """``append`` without reporting the completed subtrees (the verifier's loop)."""
        h = leaf
        index = self.size
        hashes = self._hashes
        while index & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            index >>= 1
        hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, self._hashes)

    @property
    def hashes(self) -> list[bytes]:
        return list(self._hashes)

    def to_bytes(self) -> bytes:
        return b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, size: int, raw: bytes) -> Frontier:
        if len(raw) % HASH_SIZE:
            raise ValueError("a frontier is a sequence of 32-byte hashes")
        return cls(size, [raw[i:i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)])
