"""Background jobs. The runner knows no domain: domains register what they run, from their own ``jobs.py``
(imported with the domain's actions by ``cityhub.actions.load_all``)::

    jobs.pool("load", workers=load_workers, fair=True)          # a worker pool (size: a number or a function)
    jobs.register("datastore_load", run_load_job, pool="load")  # a kind of job and the pool it runs in
    jobs.every("usage_flush", flush, seconds=10, at_exit=True)  # a periodic job (the web process runs these)
    jobs.at_startup("datastore_recover", recover)               # once before serving (``cityhub serve``)

and callers submit by kind: ``jobs.submit("datastore_load", version_id, key=department)``.

A **fair** pool takes its next job round-robin across keys (a department, for loads): the key with the fewest
jobs running goes first, then the key served least recently, and within a key first in, first out. So one
department's queue of big files holds at most its share of the workers, and another department's single
file starts as soon as a worker is free instead of after the whole queue.

A job may also name a **serial** key (a resource, for loads): jobs of one serial key never run at the same time
and start in the order they were submitted, so two loads of the same table go live in the order they were asked
for, whatever the pool's size (``jobs.submit("datastore_load", v, key=department, serial=resource_id)``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from cityhub import actions

log = logging.getLogger("cityhub.jobs")


@dataclass(frozen=True)
class Kind:
    name: str
    func: Callable[..., Any]
    pool: str


@dataclass(frozen=True)
class Periodic:
    name: str
    func: Callable[[], Any]
    seconds: Callable[[], float]  # read when the loop starts: 0 or less means "never"
    at_exit: bool


@dataclass(frozen=True)
class PoolSpec:
    name: str
    workers: Callable[[], int]
    fair: bool


@dataclass
class _Item:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    future: Future[Any]
    seq: int
    serial: str | None = None


class FairPool:
    """Worker threads taking jobs round-robin across keys (see the module docstring); ``fair=False`` pools
    use one key, i.e. first in, first out."""

    def __init__(self, name: str, workers: int) -> None:
        self.name = name
        self.workers = max(1, workers)
        self._cv = threading.Condition()
        self._queues: dict[str, deque[_Item]] = {}
        self._running: dict[str, int] = {}
        self._served: dict[str, int] = {}
        self._tick = itertools.count()
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._closed = False
        self._serial_running: set[str] = set()
        self._key_of: dict[int, str] = {}  # queued job's sequence number -> its key

    def submit(self, key: str, func: Callable[..., Any], *args: Any, serial: str | None = None) -> Future[Any]:
        future: Future[Any] = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError(f"job pool {self.name} is shut down")
            item = _Item(func, args, future, next(self._tick), serial)
            self._queues.setdefault(key, deque()).append(item)
            self._key_of[item.seq] = key
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"cityhub-{self.name}-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            self._cv.notify()
        return future

    def _ready(self) -> dict[str, int]:
        """For each key, the position of its first job that may start now (the lock is held): one without a
        serial key, or whose serial key is not running and has no earlier job queued."""
        seen: set[str] = set()
        ready: dict[str, int] = {}
        for item in sorted((i for q in self._queues.values() for i in q), key=lambda i: i.seq):
            if item.serial is not None:
                if item.serial in seen or item.serial in self._serial_running:
                    seen.add(item.serial)
                    continue
                seen.add(item.serial)
            key = self._key_of[item.seq]
            if key not in ready:
                ready[key] = self._queues[key].index(item)
        return ready

    def _take(self, ready: dict[str, int]) -> tuple[str, _Item]:
        """The next job (the lock is held): fewest running for its key, then least recently served key, then
        first in within the key (skipping jobs held back by their serial key)."""
        key = min(ready, key=lambda k: (self._running.get(k, 0), self._served.get(k, -1),
                                        self._queues[k][ready[k]].seq))
        queue = self._queues[key]
        item = queue[ready[key]]
        del queue[ready[key]]
        del self._key_of[item.seq]
        if not queue:
            del self._queues[key]
        self._served[key] = next(self._tick)
        self._running[key] = self._running.get(key, 0) + 1
        self._active += 1
        if item.serial is not None:
            self._serial_running.add(item.serial)
        return key, item

    def _work(self) -> None:
        while True:
            with self._cv:
                while not (ready := self._ready()) and not (self._closed and not self._queues):
                    self._cv.wait()
                if not ready:
                    return
                key, item = self._take(ready)
            try:
                if item.future.set_running_or_notify_cancel():
                    try:
                        item.future.set_result(item.func(*item.args))
                    except BaseException as exc:
                        log.exception("job in pool %s failed", self.name)
                        item.future.set_exception(exc)
            finally:
                with self._cv:
                    self._running[key] -= 1
                    if not self._running[key]:
                        del self._running[key]
                    self._active -= 1
                    if item.serial is not None:
                        self._serial_running.discard(item.serial)
                    self._cv.notify_all()

    def pending(self) -> dict[str, int]:
        """Queued (not yet running) jobs per key."""
        with self._cv:
            return {k: len(q) for k, q in self._queues.items()}

    def busy(self) -> bool:
        """Whether a job is queued or running."""
        with self._cv:
            return bool(self._queues) or self._active > 0

    def join(self, timeout: float) -> None:
        """Wait until nothing is queued or running (``TimeoutError`` after ``timeout`` seconds)."""
        with self._cv:
            if not self._cv.wait_for(lambda: not self._queues and not self._active, timeout):
                raise TimeoutError(f"job pool {self.name} still busy after {timeout:g} s")

    def shutdown(self) -> None:
        """Run what is queued, then let the workers end."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()


_KINDS: dict[str, Kind] = {}
_POOL_SPECS: dict[str, PoolSpec] = {"default": PoolSpec("default", lambda: 1, False)}
_PERIODIC: dict[str, Periodic] = {}
_STARTUP: dict[str, Callable[[], Any]] = {}
_pools: dict[str, FairPool] = {}
_lock = threading.Lock()


def pool(name: str, *, workers: int | Callable[[], int] = 1, fair: bool = False) -> None:
    """Declare a worker pool; ``workers`` (or its function, called when the pool first starts) sizes it."""
    size = workers if callable(workers) else (lambda: int(workers))
    _POOL_SPECS[name] = PoolSpec(name, size, fair)


def register(kind: str, func: Callable[..., Any], *, pool: str = "default") -> None:
    """Register a kind of job; ``submit(kind, *args)`` runs ``func(*args)`` in ``pool``."""
    if kind in _KINDS and _KINDS[kind].func is not func:
        raise TypeError(f"job kind {kind} registered twice")
    _KINDS[kind] = Kind(kind, func, pool)


def every(name: str, func: Callable[[], Any], *, seconds: float | Callable[[], float], at_exit: bool = False) -> None:
    """Register a periodic job (``at_exit``: also run once when the process stops)."""
    period = seconds if callable(seconds) else (lambda: float(seconds))
    _PERIODIC[name] = Periodic(name, func, period, at_exit)


def at_startup(name: str, func: Callable[[], Any]) -> None:
    """Register a job run once before the server starts serving (``cityhub serve``)."""
    _STARTUP[name] = func


def _kind(kind: str) -> Kind:
    if kind not in _KINDS:
        actions.load_all()  # the domains register their jobs when their modules are imported
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown job kind: {kind}") from None


def _pool(name: str) -> FairPool:
    with _lock:
        running = _pools.get(name)
        if running is None:
            spec = _POOL_SPECS.get(name) or PoolSpec(name, lambda: 1, False)
            running = _pools[name] = FairPool(name, spec.workers())
        return running


def submit(kind: str, *args: Any, key: str = "", serial: str | None = None) -> Future[Any]:
    """Queue a job of ``kind``; ``key`` groups jobs for fair scheduling in a fair pool (e.g. a department);
    jobs with the same ``serial`` run one at a time, in the order submitted (e.g. loads of one resource)."""
    k = _kind(kind)
    spec = _POOL_SPECS.get(k.pool)
    return _pool(k.pool).submit(key if spec is not None and spec.fair else "", k.func, *args, serial=serial)


def run(kind: str, *args: Any) -> Any:
    """Run a job of ``kind`` in the caller's thread."""
    return _kind(kind).func(*args)


def periodic() -> list[Periodic]:
    """Every registered periodic job (the web process starts a loop for each)."""
    actions.load_all()
    return list(_PERIODIC.values())


def startup() -> dict[str, Any]:
    """Run the start-up jobs (before any worker starts); their results by name."""
    actions.load_all()
    return {name: func() for name, func in _STARTUP.items()}


def at_exit() -> None:
    """Run the periodic jobs marked ``at_exit`` once (the web process calls this when it stops)."""
    for job in periodic():
        if job.at_exit:
            try:
                job.func()
            except Exception:
                log.exception("job %s at exit failed", job.name)


def pools() -> dict[str, FairPool]:
    """The pools started so far."""
    with _lock:
        return dict(_pools)


def wait_idle(timeout: float = 120.0) -> None:
    """Wait until every submitted job has finished (tests, scripts), including the jobs those jobs submit to
    other pools (a rewrite of a dataset queues its datastore load): passes over the pools until one finds them
    all idle at once."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [running for running in pools().values() if running.busy()]
        if not busy:
            return
        for running in busy:
            running.join(max(0.0, deadline - time.monotonic()))


def reset() -> None:
    """Stop the pools (their queued jobs still run); the next submit starts them anew with current sizes."""
    with _lock:
        stopping = list(_pools.values())
        _pools.clear()
    for running in stopping:
        running.shutdown()
