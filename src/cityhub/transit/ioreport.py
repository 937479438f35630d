"""What the transit input readers report: typed problems (not exceptions), and the one error they raise.

Pure: imports nothing from the rest of CityHub. A data-quality problem in an input (a broken reference in a GTFS
feed, a tap with a bad time) is a :class:`Problem` collected in a report, as Frictionless and MobilityData's
gtfs-validator do; only input that cannot be read at all raises :class:`TransitInputError`, whose ``str`` is
``"中文 / English"`` (the stored-message shape ``cityhub.messages.localize`` shows in the page's language).
"""

from __future__ import annotations

import codecs
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class TransitInputError(ValueError):
    """Input a transit reader cannot use at all: ``zh`` and ``en`` say why, ``field`` says where."""

    def __init__(self, zh: str, en: str, field: str | None = None) -> None:
        self.zh = zh
        self.en = en
        self.field = field
        super().__init__(f"{zh} / {en}")


@dataclass(frozen=True)
class Problem:
    """One finding: ``code`` is the rule (gtfs-validator's notice code where one exists), ``row`` the CSV row
    number as gtfs-validator counts it (the header is row 1, the first record row 2)."""

    severity: str  # "error" | "warning" | "info"
    code: str
    file: str
    row: int | None = None
    field: str | None = None
    value: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProblemLog:
    """Problems counted in full, listed up to ``keep`` per (severity, code) so a feed with a million broken rows
    gives a readable report."""

    keep: int = 50
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem, count: int = 1) -> None:
        key = (problem.severity, problem.code)
        seen = self.counts.get(key, 0)
        self.counts[key] = seen + count
        if seen < self.keep:
            self.problems.append(problem)

    def add_many(self, severity: str, code: str, file: str, rows: list[tuple[Any, ...]], total: int,
                 field: str | None, message: str) -> None:
        """``rows`` are (row, value) pairs, at most ``keep`` of them; ``total`` counts them all."""
        key = (severity, code)
        seen = self.counts.get(key, 0)
        self.counts[key] = seen + total
        for row, value in rows[: max(0, self.keep - seen)]:
            self.problems.append(Problem(severity, code, file, None if row is None else int(row), field,
                                         None if value is None else str(value), message))

    def count(self, severity: str | None = None, code: str | None = None) -> int:
        return sum(n for (s, c), n in self.counts.items()
                   if (severity is None or s == severity) and (code is None or c == code))

    def summary(self) -> list[dict[str, Any]]:
        return [{"severity": s, "code": c, "count": n} for (s, c), n in sorted(self.counts.items())]


def sniff_encoding(path: str | Path, probe: int = 1 << 20) -> str:
    """``utf-8`` when the first MiB decodes as UTF-8 (a character cut at the end is fine), else ``gb18030``
    (Chinese agencies' CSV is often GBK/GB18030)."""
    with open(path, "rb") as f:
        head = f.read(probe)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def transcode_to_utf8(src: str | Path, dst: str | Path, encoding: str, chunk: int = 1 << 22) -> None:
    """Stream ``src`` from ``encoding`` into UTF-8 at ``dst`` (an incremental decoder, so a character split
    between two chunks is not garbled)."""
    dec = codecs.getincrementaldecoder(encoding)()
    with open(src, "rb") as f, open(dst, "w", encoding="utf-8", newline="") as out:
        while True:
            block = f.read(chunk)
            out.write(dec.decode(block, final=not block))
            if not block:
                break
