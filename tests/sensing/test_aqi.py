"""HJ 633-2012 AQI against values computed by hand from the formula and the table."""

from __future__ import annotations

import pytest

from cityhub.sensing import aqi


@pytest.mark.parametrize(("key", "c", "expected"), [
    ("pm25_24h", 0, 0),
    ("pm25_24h", 35, 50),          # a breakpoint: exactly the level's IAQI
    ("pm25_24h", 36, 52),          # 50/40 × 1 + 50 = 51.25 → rounded up
    ("pm25_24h", 75, 100),
    ("pm25_24h", 80, 107),         # 50/40 × 5 + 100 = 106.25 → 107
    ("pm25_24h", 20, 29),          # 50/35 × 20 = 28.57 → 29
    ("pm25_24h", 600, 500),        # beyond the table: 500
    ("co_1h", 12, 104),            # 50/25 × 2 + 100
    ("o3_1h", 250, 125),
    ("no2_1h", 150, 75),
    ("so2_24h", 200, 108),         # 50/325 × 50 + 100 = 107.69
    ("o3_8h", 800, 300),
    ("o3_8h", 801, None),          # the 8-hour table stops at 800
    ("so2_1h", 801, None),         # the 1-hour table stops at 800
    ("pm25_24h", None, None),
    ("pm25_24h", -1, None),
])
def test_iaqi_hand_computed(key: str, c: float | None, expected: int | None) -> None:
    assert aqi.iaqi(key, c) == expected


def test_hourly_primary_level_category_colour() -> None:
    r = aqi.hourly_aqi(pm25=80, pm10=100, no2=150)
    assert r.aqi == 107
    assert r.iaqi == {"pm25": 107, "pm10": 75, "no2": 75}
    assert r.primary == ["PM2.5"] and r.exceeding == ["PM2.5"]
    assert (r.level, r.level_zh, r.category_zh, r.category_en, r.colour) == (3, "三级", "轻度污染", "Lightly polluted",
                                                                              "#FF7E00")


def test_ties_are_all_primary_and_none_at_or_below_50() -> None:
    r = aqi.hourly_aqi(pm25=75, pm10=150)
    assert r.aqi == 100 and sorted(r.primary) == ["PM10", "PM2.5"] and r.exceeding == []
    low = aqi.hourly_aqi(pm25=20, no2=40)
    assert low.aqi == 29 and low.primary == [] and low.category_zh == "优" and low.colour == "#00E400"


def test_so2_hourly_above_800_uses_24h() -> None:
    r = aqi.hourly_aqi(so2=900, so2_24h=200, pm25=10)
    assert r.iaqi["so2"] == 108 and r.aqi == 108 and r.primary == ["SO2"]
    assert any("24-hour" in n for n in r.notes)
    missing = aqi.hourly_aqi(so2=900, pm25=10)
    assert "so2" not in missing.iaqi and missing.aqi == 15  # 50/35 × 10 = 14.3 → 15
    # at 800 the 1-hour table still applies
    assert aqi.hourly_aqi(so2=800).iaqi["so2"] == 200


def test_o3_8h_above_800_uses_1h() -> None:
    r = aqi.hourly_aqi(o3=900, o3_8h=850)
    assert r.iaqi["o3_8h"] == 350 and r.iaqi["o3_1h"] == 350   # 100/200 × 100 + 300
    assert r.level == 6 and r.category_zh == "严重污染" and r.colour == "#7E0023"
    d = aqi.daily_aqi(o3_1h_max=250, o3_8h_max=200)   # 55/55... 50/55 × 40 + 100 = 136.4 → 137
    assert d.iaqi == {"o3_1h": 125, "o3_8h": 137} and d.primary == ["O3_8h"]


def test_daily_uses_24h_limits() -> None:
    d = aqi.daily_aqi(so2=50, no2=80, co=4, pm10=150, pm25=115)
    assert d.iaqi == {"so2": 50, "no2": 100, "co": 100, "pm10": 100, "pm25": 150}
    assert d.aqi == 150 and d.primary == ["PM2.5"] and sorted(d.exceeding) == ["PM2.5"]
    # the same NO2 concentration is 40 in an hourly report (1-hour limits)
    assert aqi.hourly_aqi(no2=80).iaqi["no2"] == 40


def test_levels_boundaries() -> None:
    assert [aqi.level_of(v)[0] for v in (0, 50, 51, 100, 101, 150, 151, 200, 201, 300, 301, 500)] == \
        [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]


def test_2026_table_selectable_and_marked_provisional() -> None:
    assert aqi.iaqi("pm25_24h", 30, "HJ633-2026") == 50
    assert aqi.iaqi("pm25_24h", 60, "HJ633-2026") == 100
    assert aqi.iaqi("pm10_24h", 120, "HJ633-2026") == 100
    assert aqi.iaqi("pm25_24h", 60) == 82  # 2012: 50/40 × 25 + 50 = 81.25
    assert "PROVISIONAL" in aqi.TABLE_NOTES["HJ633-2026"]
    assert aqi.hourly_aqi(pm25=60, version="HJ633-2026").version == "HJ633-2026"
    with pytest.raises(ValueError):
        aqi.iaqi("pm25_24h", 1, "HJ633-1999")


def test_moving_average_and_daily_inputs() -> None:
    assert aqi.moving_average([1, 2, 3, 4, 5, 6, 7, 8, 9]) == [None] * 5 + [3.5, 4.0, 4.5, 5.5]
    assert aqi.moving_average([None, None, 3, 3, 3, 3, 3, 3]) == [None] * 7 + [3.0]
    hours = [{"pm25": 40.0, "o3": float(h * 10)} for h in range(24)]
    d = aqi.daily_inputs(hours)
    assert d["pm25"] == 40 and d["o3_1h_max"] == 230
    assert d["o3_8h_max"] == pytest.approx(sum(range(160, 240, 10)) / 8)   # window 16:00–23:00
    few = aqi.daily_inputs(hours[:19])
    assert few["pm25"] is None and few["o3_1h_max"] is None
