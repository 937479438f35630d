"""Device types as versioned data: each type's attributes with unit, valid range (or allowed values) and labels,
after the FIWARE Smart Data Models where one exists (AirQualityObserved, WaterQualityObserved,
NoiseLevelObserved, FloodMonitoring, Streetlight, ParkingSpot), plus manhole covers, pipeline monitors (gas,
water supply, drainage) and energy meters.

Pure: no import from the rest of CityHub. Readings are stored long (device, time, attribute, value: a float);
an enumerated attribute is stored as the index of its value in ``values``, a boolean as 0/1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

VERSION = "2026.1"

Kind = Literal["number", "bool", "enum"]


@dataclass(frozen=True)
class Attribute:
    name: str
    unit: str
    min: float | None = None
    max: float | None = None
    kind: Kind = "number"
    values: tuple[str, ...] = ()
    label_zh: str = ""
    label_en: str = ""


@dataclass(frozen=True)
class DeviceType:
    code: str
    model: str                 # the Smart Data Model it follows ("" when none)
    label_zh: str
    label_en: str
    attributes: tuple[Attribute, ...]
    version: str = VERSION
    by_name: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({a.name: a for a in self.attributes})


def _n(name: str, unit: str, lo: float | None, hi: float | None, zh: str, en: str) -> Attribute:
    return Attribute(name, unit, lo, hi, "number", (), zh, en)


def _b(name: str, zh: str, en: str) -> Attribute:
    return Attribute(name, "", 0, 1, "bool", (), zh, en)


def _e(name: str, values: tuple[str, ...], zh: str, en: str) -> Attribute:
    return Attribute(name, "", 0, len(values) - 1, "enum", values, zh, en)


_UG = "µg/m³"
_PIPE = (
    _n("pressure", "MPa", 0, 10, "压力", "Pressure"),
    _n("flow", "m³/h", 0, 100000, "流量", "Flow"),
    _b("leak", "泄漏", "Leak"),
)

TYPES: dict[str, DeviceType] = {t.code: t for t in (
    DeviceType("air_quality", "AirQualityObserved", "空气质量监测站", "Air quality station", (
        _n("pm25", _UG, 0, 2000, "PM2.5", "PM2.5"),
        _n("pm10", _UG, 0, 3000, "PM10", "PM10"),
        _n("so2", _UG, 0, 10000, "二氧化硫", "SO2"),
        _n("no2", _UG, 0, 5000, "二氧化氮", "NO2"),
        _n("co", "mg/m³", 0, 200, "一氧化碳", "CO"),
        _n("o3", _UG, 0, 2000, "臭氧", "O3"),
        _n("temperature", "°C", -50, 70, "气温", "Temperature"),
        _n("relativeHumidity", "%", 0, 100, "相对湿度", "Relative humidity"),
    )),
    DeviceType("water_quality", "WaterQualityObserved", "水质监测站", "Water quality station", (
        _n("temperature", "°C", -5, 50, "水温", "Water temperature"),
        _n("conductivity", "µS/cm", 0, 200000, "电导率", "Conductivity"),
        _n("pH", "pH", 0, 14, "pH值", "pH"),
        _n("turbidity", "NTU", 0, 4000, "浊度", "Turbidity"),
        _n("O2", "mg/L", 0, 25, "溶解氧", "Dissolved oxygen"),
        _n("NO3", "mg/L", 0, 500, "硝酸盐", "Nitrate"),
    )),
    DeviceType("noise", "NoiseLevelObserved", "噪声监测点", "Noise monitor", (
        _n("LAeq", "dB(A)", 0, 150, "等效声级", "LAeq"),
        _n("LAmax", "dB(A)", 0, 160, "最大声级", "LAmax"),
    )),
    DeviceType("flood", "FloodMonitoring", "内涝监测点", "Flood monitor", (
        _n("currentLevel", "m", -20, 50, "当前水位", "Current level"),
        _n("alertLevel", "m", -20, 50, "警戒水位", "Alert level"),
        _n("dangerLevel", "m", -20, 50, "危险水位", "Danger level"),
        _n("referenceLevel", "m", -20, 50, "基准水位", "Reference level"),
        _e("floodLevelStatus", ("normal", "alert", "danger"), "水位状态", "Flood level status"),
    )),
    DeviceType("streetlight", "Streetlight", "路灯", "Street light", (
        _e("status", ("ok", "defectiveLamp", "columnIssue", "brokenLantern"), "状态", "Status"),
        _e("powerState", ("off", "on", "low", "bootingUp"), "开关状态", "Power state"),
        _n("powerConsumption", "W", 0, 5000, "功率", "Power consumption"),
        _n("voltage", "V", 0, 450, "电压", "Voltage"),
        _n("current", "A", 0, 50, "电流", "Current"),
    )),
    DeviceType("parking_spot", "ParkingSpot", "停车位", "Parking spot", (
        _e("status", ("free", "occupied", "closed", "unknown"), "状态", "Status"),
    )),
    DeviceType("manhole_cover", "", "井盖", "Manhole cover", (
        _n("tilt", "°", 0, 180, "倾角", "Tilt"),
        _b("open", "开启", "Open"),
        _n("waterLevel", "m", 0, 20, "井内水位", "Water level"),
    )),
    DeviceType("gas_pipeline", "", "燃气管网监测", "Gas pipeline monitor", _PIPE),
    DeviceType("water_pipeline", "", "供水管网监测", "Water supply pipeline monitor", _PIPE),
    DeviceType("drainage_pipeline", "", "排水管网监测", "Drainage pipeline monitor", _PIPE),
    DeviceType("energy_meter", "", "能耗计量表", "Energy meter", (
        _n("energy", "kWh", 0, 1e12, "累计电量", "Energy (cumulative)"),
        _n("power", "kW", 0, 1e6, "有功功率", "Active power"),
    )),
    # a gateway relays other devices' readings and has none of its own
    DeviceType("gateway", "", "网关", "Gateway", ()),
)}

#: spellings a device may send for a unit (all folded to the canonical unit; conversions are not guessed)
UNIT_ALIASES: dict[str, str] = {
    "ug/m3": _UG, "μg/m³": _UG, "μg/m3": _UG, "µg/m3": _UG, "ug/m³": _UG, "mg/m3": "mg/m³",
    "celsius": "°C", "degc": "°C", "c": "°C", "us/cm": "µS/cm", "μs/cm": "µS/cm", "mg/l": "mg/L",
    "db": "dB(A)", "dba": "dB(A)", "db(a)": "dB(A)", "deg": "°", "degree": "°", "m3/h": "m³/h",
    "kwh": "kWh", "kw": "kW", "w": "W", "v": "V", "a": "A", "mpa": "MPa", "ntu": "NTU", "m": "m", "%": "%",
    "ph": "pH",
}


def canonical_unit(unit: str) -> str:
    u = unit.strip()
    return UNIT_ALIASES.get(u.lower(), u)


def get(code: str) -> DeviceType | None:
    return TYPES.get(code)


#: reasons a value is refused (the dead-letter reason codes)
UNKNOWN_ATTRIBUTE = "unknown_attribute"
BAD_UNIT = "bad_unit"
BAD_VALUE = "bad_value"
OUT_OF_RANGE = "out_of_range"


def check_value(dtype: DeviceType, name: str, value: object, unit: str | None = None) -> tuple[float | None, str]:
    """The stored float of ``value`` for attribute ``name``, or ``(None, reason code)``."""
    attr = dtype.by_name.get(name)
    if attr is None:
        return None, UNKNOWN_ATTRIBUTE
    if unit is not None and attr.unit and canonical_unit(unit) != attr.unit:
        return None, BAD_UNIT
    if attr.kind == "bool":
        if isinstance(value, bool):
            return float(value), ""
        if value in (0, 1):
            return float(value), ""
        return None, BAD_VALUE
    if attr.kind == "enum":
        if isinstance(value, str) and value in attr.values:
            return float(attr.values.index(value)), ""
        return None, BAD_VALUE
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, BAD_VALUE
    f = float(value)
    if math.isnan(f) or math.isinf(f):
        return None, BAD_VALUE
    if (attr.min is not None and f < attr.min) or (attr.max is not None and f > attr.max):
        return None, OUT_OF_RANGE
    return f, ""


def describe(dtype: DeviceType) -> dict[str, object]:
    return {"code": dtype.code, "model": dtype.model, "label_zh": dtype.label_zh, "label_en": dtype.label_en,
            "version": dtype.version,
            "attributes": [{"name": a.name, "unit": a.unit, "min": a.min, "max": a.max, "kind": a.kind,
                            "values": list(a.values), "label_zh": a.label_zh, "label_en": a.label_en}
                           for a in dtype.attributes]}


def display_value(dtype: DeviceType, name: str, stored: float) -> object:
    """The value as the device sent it back from its stored float (enum names, booleans)."""
    attr = dtype.by_name.get(name)
    if attr is None or attr.kind == "number":
        return stored
    if attr.kind == "bool":
        return bool(stored)
    i = int(stored)
    return attr.values[i] if 0 <= i < len(attr.values) else stored


def type_labels(types: Mapping[str, DeviceType] = TYPES) -> dict[str, tuple[str, str]]:
    return {c: (t.label_zh, t.label_en) for c, t in types.items()}
