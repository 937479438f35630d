"""The answer cache of datastore row searches (``cityhub.datastore.answers``): a pure, bounded, thread-safe LRU."""

from __future__ import annotations

import threading

from cityhub.datastore.answers import AnswerCache, search_key


def test_get_put_and_lru_order() -> None:
    c = AnswerCache(1000, entry_max=400)
    assert c.get("a") is None
    assert c.put("a", 1, 300) and c.put("b", 2, 300) and c.put("c", 3, 300)
    assert c.get("a") == 1  # a is now the most recently used
    assert c.put("d", 4, 300)  # 1200 > 1000: the least recently used (b) goes
    assert c.get("b") is None and c.get("a") == 1 and c.get("c") == 3 and c.get("d") == 4
    st = c.stats()
    assert st["entries"] == 3 and st["bytes"] == 900 and st["evictions"] == 1


def test_bounded_by_bytes_and_entry_cap() -> None:
    c = AnswerCache(1 << 20)
    assert c.entry_max == (1 << 20) // 16
    assert not c.put("big", "x", c.entry_max + 1)  # too large: never kept
    assert c.get("big") is None and c.stats()["too_large"] == 1
    for i in range(100):
        c.put(i, i, 50_000)
    assert c.stats()["bytes"] <= 1 << 20
    assert c.get(99) == 99 and c.get(0) is None
    c.put(99, "again", 10)  # replacing an entry recounts its bytes
    assert c.get(99) == "again" and c.stats()["bytes"] <= 1 << 20


def test_zero_disables() -> None:
    c = AnswerCache(0)
    assert not c.enabled
    assert not c.put("a", 1, 1)
    assert c.get("a") is None and len(c) == 0


def test_search_key_normalises_and_distinguishes() -> None:
    t = ("v1", 3)
    a = search_key(t, {"filters": {"a": 1, "b": "x"}, "limit": 100})
    b = search_key(t, {"limit": 100, "filters": {"b": "x", "a": 1}})
    assert a == b and hash(a) == hash(b)
    # JSON types are kept apart: 1, 1.0, "1" and true are different parameters
    keys = {search_key(t, {"filters": {"a": v}}) for v in (1, 1.0, "1", True)}
    assert len(keys) == 4
    assert search_key(("v2", 3), {"limit": 100, "filters": {"b": "x", "a": 1}}) != a  # another version
    assert search_key(t, {"x": object()}) is None  # no JSON form: not cached
    assert search_key(t, {"x": float("nan")}) is None


def test_thread_safe() -> None:
    c = AnswerCache(100_000, entry_max=1000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                k = (n * 7 + i) % 300
                if c.get(k) is None:
                    c.put(k, k, 500)
                else:
                    assert c.get(k) in (k, None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    st = c.stats()
    assert st["bytes"] == 500 * st["entries"] <= 100_000
