from __future__ import annotations

from cityhub.sensing import devicetypes as dt


def test_types_cover_the_city_devices() -> None:
    for code in ("air_quality", "water_quality", "noise", "flood", "streetlight", "parking_spot", "manhole_cover",
                 "gas_pipeline", "water_pipeline", "drainage_pipeline", "energy_meter"):
        t = dt.get(code)
        assert t is not None and t.attributes and t.label_zh and t.version == dt.VERSION
    air = dt.TYPES["air_quality"]
    assert air.model == "AirQualityObserved"
    assert air.by_name["co"].unit == "mg/m³" and air.by_name["pm25"].unit == "µg/m³"


def test_check_value() -> None:
    air = dt.TYPES["air_quality"]
    assert dt.check_value(air, "pm25", 35) == (35.0, "")
    assert dt.check_value(air, "pm25", 35, "ug/m3") == (35.0, "")
    assert dt.check_value(air, "co", 1.2, "µg/m³") == (None, dt.BAD_UNIT)
    assert dt.check_value(air, "pm25", -1) == (None, dt.OUT_OF_RANGE)
    assert dt.check_value(air, "pm25", 5000) == (None, dt.OUT_OF_RANGE)
    assert dt.check_value(air, "pm25", "35") == (None, dt.BAD_VALUE)
    assert dt.check_value(air, "pm25", True) == (None, dt.BAD_VALUE)
    assert dt.check_value(air, "pm1", 3) == (None, dt.UNKNOWN_ATTRIBUTE)
    spot = dt.TYPES["parking_spot"]
    assert dt.check_value(spot, "status", "occupied") == (1.0, "")
    assert dt.check_value(spot, "status", "busy") == (None, dt.BAD_VALUE)
    assert dt.display_value(spot, "status", 1.0) == "occupied"
    mh = dt.TYPES["manhole_cover"]
    assert dt.check_value(mh, "open", True) == (1.0, "")
    assert dt.display_value(mh, "open", 0.0) is False
