"""The tables every transit module speaks (a contract between inputs, the pipeline and the analyses).

Inputs (GTFS, the smart-card presets, the simulator) produce these; the pipeline consumes them. Times are
timestamps without zone, in the city's local time (Asia/Shanghai); the service day starts at
:data:`SERVICE_DAY_START_HOUR`. Distances are metres, coordinates WGS-84.
"""

from __future__ import annotations

import pyarrow as pa

SERVICE_DAY_START_HOUR = 4

#: modes of a stage
MODES = ("bus", "metro")
#: kinds of tap: a bus tap-on, a metro tap-in (entry gate), a metro tap-out (exit gate)
TAP_KINDS = ("tap_on", "tap_in", "tap_out")

#: one smart-card transaction
TAPS = pa.schema([
    pa.field("card_id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("s"), nullable=False),
    pa.field("mode", pa.string(), nullable=False),       # one of MODES
    pa.field("kind", pa.string(), nullable=False),       # one of TAP_KINDS
    pa.field("stop_id", pa.string()),                    # metro station, or bus stop when the tap carries it
    pa.field("route_id", pa.string()),                   # bus route (metro: line, when known)
    pa.field("vehicle_id", pa.string()),                 # bus vehicle, to match AVL when stop_id is missing
    pa.field("fare_fen", pa.int32()),                    # amount charged, in fen (分)
])

#: stops and stations
STOPS = pa.schema([
    pa.field("stop_id", pa.string(), nullable=False),
    pa.field("name", pa.string()),
    pa.field("lat", pa.float64(), nullable=False),
    pa.field("lon", pa.float64(), nullable=False),
    pa.field("mode", pa.string(), nullable=False),       # one of MODES
    pa.field("district", pa.string()),                   # district code (e.g. 440106), when known
])

#: the ordered stop pattern of each route direction (from GTFS trips/stop_times, or the simulator)
ROUTE_STOPS = pa.schema([
    pa.field("route_id", pa.string(), nullable=False),
    pa.field("direction", pa.int8(), nullable=False),    # 0 or 1
    pa.field("seq", pa.int32(), nullable=False),         # 0-based position along the direction
    pa.field("stop_id", pa.string(), nullable=False),
    pa.field("dist_m", pa.float64()),                    # distance along the route from its first stop
])

#: bus vehicle positions (AVL/GPS pings)
AVL = pa.schema([
    pa.field("vehicle_id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("s"), nullable=False),
    pa.field("lat", pa.float64(), nullable=False),
    pa.field("lon", pa.float64(), nullable=False),
    pa.field("route_id", pa.string()),
    pa.field("direction", pa.int8()),
])

#: anonymous device pings in hub zones (phone signalling, Wi-Fi probes)
PINGS = pa.schema([
    pa.field("device_id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("s"), nullable=False),
    pa.field("zone_id", pa.string(), nullable=False),
])
