"""The city's districts (Guangzhou by default): pure data, no imports from the rest of cityhub."""

from __future__ import annotations

from importlib import resources

DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("440103", "荔湾区", "Liwan"),
    ("440104", "越秀区", "Yuexiu"),
    ("440105", "海珠区", "Haizhu"),
    ("440106", "天河区", "Tianhe"),
    ("440111", "白云区", "Baiyun"),
    ("440112", "黄埔区", "Huangpu"),
    ("440113", "番禺区", "Panyu"),
    ("440114", "花都区", "Huadu"),
    ("440115", "南沙区", "Nansha"),
    ("440117", "从化区", "Conghua"),
    ("440118", "增城区", "Zengcheng"),
)
DISTRICT_NAMES = tuple(d[1] for d in DISTRICTS)
DISTRICT_BY_NAME = {d[1]: d for d in DISTRICTS}


def districts_geojson() -> str:
    return resources.files("cityhub.data").joinpath("guangzhou-districts.geojson").read_text(encoding="utf-8")
