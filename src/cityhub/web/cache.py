"""A per-process cache of public API responses, kept current by the catalog's change stamp.

Only anonymous reads of public datasets are cached. The stamp (``catalog_stamp``: the latest dataset
modification) is re-read at most every ``check_every`` seconds; when it moves, the whole cache is dropped.
So a change made through any process is served everywhere within that interval, and at once by the
process that made it (its write clears the local cache). Entries also expire after ``ttl`` seconds,
because some fields (freshness, usage totals, department names) move without a dataset edit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class StampedCache:
    def __init__(self, read_stamp: Callable[[], str], size: int = 20_000, ttl: float = 60.0,
                 check_every: float = 0.25) -> None:
        self.read_stamp = read_stamp
        self.size = size
        self.ttl = ttl
        self.check_every = check_every
        self._data: OrderedDict[str, tuple[float, int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._stamp: str | None = None
        self._checked = 0.0

    def needs_check(self) -> bool:
        return time.monotonic() - self._checked > self.check_every

    def check(self) -> None:
        """Re-read the stamp (blocking: call it off the event loop) and drop everything if it moved."""
        stamp = self.read_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._data.clear()
                self._stamp = stamp
            self._checked = time.monotonic()

    def get(self, key: str) -> tuple[int, bytes] | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry[1], entry[2]

    def put(self, key: str, ident: int, body: bytes, stamp_before: str | None) -> None:
        """Store ``body`` unless the stamp moved while it was being built."""
        with self._lock:
            if stamp_before != self._stamp:
                return
            self._data[key] = (time.monotonic() + self.ttl, ident, body)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    @property
    def stamp(self) -> str | None:
        return self._stamp

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._checked = 0.0


def _catalog_stamp() -> str:
    from cityhub import actions
    from cityhub.context import Context

    return str(actions.call("catalog_stamp", Context(via="api"), {}))


public_responses = StampedCache(_catalog_stamp)
