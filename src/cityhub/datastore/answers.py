"""The answer cache of datastore row searches: a process's bounded, thread-safe LRU of search answers.

A published table version is immutable, so the answer of a row search is a pure function of what it reads (the
version, the file and the scope the query layer applies: a grant's columns and rows, a released de-identified
view) and of its normalised parameters. ``search_key`` builds that key; the datastore action looks the answer up
after authorization and the grant decision (they run on every call, as does the metering) and keeps only what
DuckDB and the records cost on a miss. A new version, another file or another scope is another key, never an
older answer.

Bounded by the bytes the answers are counted at (``put``'s ``size``: the caller's estimate of the answer's memory);
an answer larger than ``entry_max`` is not kept. Pure: no database, web or settings imports.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["AnswerCache", "search_key"]

#: one answer may take at most this fraction of the cache (and never more than ``ENTRY_MAX_BYTES``)
ENTRY_FRACTION = 16
ENTRY_MAX_BYTES = 1 << 20


class AnswerCache:
    """A least-recently-used map of answers bounded by their counted bytes; safe across threads. ``max_bytes`` 0
    disables it (``get`` finds nothing, ``put`` keeps nothing)."""

    def __init__(self, max_bytes: int, entry_max: int | None = None) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.entry_max = min(ENTRY_MAX_BYTES, self.max_bytes // ENTRY_FRACTION) if entry_max is None else entry_max
        self._items: collections.OrderedDict[Hashable, tuple[Any, int]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = self.too_large = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: Hashable) -> Any | None:
        if not self.max_bytes:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value: Any, size: int) -> bool:
        """Keep ``value`` counted at ``size`` bytes (evicting the least recently used); False if it is too large."""
        if not self.max_bytes:
            return False
        if size > self.entry_max:
            with self._lock:
                self.too_large += 1
            return False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, (_, gone) = self._items.popitem(last=False)
                self._bytes -= gone
                self.evictions += 1
        return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._items), "bytes": self._bytes, "max_bytes": self.max_bytes,
                    "hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                    "too_large": self.too_large}

    def __len__(self) -> int:
        return len(self._items)


def search_key(table: Hashable, params: Mapping[str, Any]) -> tuple[Hashable, str] | None:
    """The key of a row search: ``table`` (what identifies the data read: version, file, scope — the caller's
    hashable tuple) and the parameters, normalised (mappings by key, values with their JSON types: ``1``, ``1.0``,
    ``"1"`` and ``true`` are different parameters). None when a parameter has no JSON form (not cached)."""
    try:
        text = json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return (table, text)
