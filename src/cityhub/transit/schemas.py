"""Input schemas of the transit actions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RUN_ID = r"^[0-9a-f]{12}$"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RunStart(Strict):
    taps: int = Field(5_000, ge=100, le=200_000, description="simulate about this many taps (when no input_dir; a city-scale day goes through input_dir or the `cityhub transit` CLI)")
    seed: int = Field(1, ge=0, le=2**31 - 1, description="simulation seed")
    input_dir: str | None = Field(None, max_length=1000, description="server directory with taps/stops/route_stops"
                                  "[/avl][/truth].parquet instead of a simulation (platform admins only)")
    max_walk_m: float | None = Field(None, gt=0, le=5000, description="max walk to the next boarding, m")
    department: str | None = Field(None, pattern=SLUG, description="owning department of the published datasets "
                                   "(default: the caller's; for platform admins gz-transport)")
    publish: bool = Field(True, description="publish the OD matrix (open) and the stages (restricted) when done")
    engine: Literal["numpy", "spark"] = Field("numpy", description="trip-chaining engine: numpy (default) or "
                                              "spark (a local Spark session; only where PySpark is installed)")
    zones: str | None = Field(None, max_length=2_000_000, description="GeoJSON FeatureCollection of Polygon/"
                              "MultiPolygon zones (WGS-84 lon/lat; id from the zone_id/id/code/name property) for "
                              "an OD matrix by custom zone, published like the district one")


class RunRef(Strict):
    id: str = Field(pattern=RUN_ID)


class RunList(Strict):
    limit: int = Field(20, ge=1, le=200)
