"""The stops and route patterns as integer-indexed numpy arrays, the form every transit rule works on.

Pure: numpy/pyarrow only, imports nothing from the rest of CityHub but the transit contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def codes(values: pa.Array | pa.ChunkedArray, dictionary: pa.Array) -> np.ndarray:
    """Position of each value in ``dictionary`` (-1 for null or not found)."""
    idx = pc.index_in(values, value_set=dictionary)
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def encode(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes (-1 for null) and the dictionary."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    enc = pc.dictionary_encode(values)
    idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return idx, enc.dictionary


def encode_sorted(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Like :func:`encode` with a sorted dictionary, so codes do not depend on the input row order."""
    uniq = pc.unique(values)
    uniq = uniq.filter(pc.is_valid(uniq)).take(pc.sort_indices(uniq.filter(pc.is_valid(uniq))))
    return codes(values, uniq), uniq


@dataclass
class Network:
    stop_ids: pa.Array          # string
    lat: np.ndarray
    lon: np.ndarray
    is_metro: np.ndarray        # bool per stop
    district: pa.Array          # string per stop (may hold nulls)
    route_ids: pa.Array         # string: the routes that have a pattern
    pat_route: np.ndarray       # per pattern: route index
    pat_dir: np.ndarray         # per pattern: 0/1
    pat_ptr: np.ndarray         # CSR into ps_* (len n_pat + 1)
    ps_stop: np.ndarray         # stop index of each pattern position
    ps_dist: np.ndarray         # distance along the pattern (m)
    route_pat: np.ndarray       # (n_routes, 2): pattern of each direction, -1 if absent
    _pos_key: np.ndarray        # sorted pattern * n_stops + stop, to find a stop's position in a pattern
    _pos_val: np.ndarray
    x: np.ndarray               # metres east of the stops' mean (float32, for fast nearest-stop searches)
    y: np.ndarray

    @property
    def n_stops(self) -> int:
        return int(self.lat.size)

    def seq_of(self, pattern: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Position of ``stop`` in ``pattern`` (-1 when the pattern does not serve it)."""
        pattern, stop = np.broadcast_arrays(np.asarray(pattern), np.asarray(stop))
        out = np.full(pattern.shape, -1, dtype=np.int64)
        rows = np.flatnonzero((pattern >= 0) & (stop >= 0))  # only the rows that can be found are searched
        if rows.size == 0 or self._pos_key.size == 0:
            return out
        key = pattern.ravel()[rows].astype(np.int64) * self.n_stops + stop.ravel()[rows]
        i = np.minimum(np.searchsorted(self._pos_key, key), self._pos_key.size - 1)
        found = self._pos_key[i] == key
        out.ravel()[rows[found]] = self._pos_val[i[found]]
        return out

    def max_pattern_len(self) -> int:
        return int(np.diff(self.pat_ptr).max()) if self.pat_ptr.size > 1 else 0


def build(stops: pa.Table, route_stops: pa.Table) -> Network:
    """Index the stops and patterns (duplicated stop ids keep their first row)."""
    stop_ids = stops.column("stop_id").combine_chunks()
    lat = np.asarray(stops.column("lat").to_numpy(), dtype=np.float64)
    lon = np.asarray(stops.column("lon").to_numpy(), dtype=np.float64)
    is_metro = np.asarray(pc.equal(stops.column("mode"), "metro").to_numpy(zero_copy_only=False), dtype=bool)
    district = stops.column("district").combine_chunks() if "district" in stops.column_names \
        else pa.nulls(stops.num_rows, pa.string())
    n_stops = stop_ids.__len__()
    rs = route_stops.sort_by([("route_id", "ascending"), ("direction", "ascending"), ("seq", "ascending")])
    r_code, route_ids = encode(rs.column("route_id"))
    direction = np.asarray(rs.column("direction").to_numpy(), dtype=np.int64)
    s_code = codes(rs.column("stop_id"), stop_ids)
    keep = s_code >= 0
    r_code, direction, s_code = r_code[keep], direction[keep], s_code[keep]
    dist_col = rs.column("dist_m").to_numpy(zero_copy_only=False)[keep]
    dist = np.asarray(dist_col, dtype=np.float64)
    pat_key = r_code * 2 + direction
    change = np.concatenate([[True], pat_key[1:] != pat_key[:-1]]) if pat_key.size else np.zeros(0, bool)
    starts = np.flatnonzero(change)
    pat_ptr = np.concatenate([starts, [pat_key.size]]).astype(np.int64)
    pat_of_pos = np.cumsum(change) - 1
    # distances: fill gaps from the stop coordinates, keep them non-decreasing
    step = np.zeros(pat_key.size)
    if pat_key.size > 1:
        step[1:] = _metres(lat[s_code[:-1]], lon[s_code[:-1]], lat[s_code[1:]], lon[s_code[1:]])
    step[starts] = 0.0
    geo = np.cumsum(step)
    geo = geo - geo[starts][pat_of_pos] if pat_key.size else geo
    dist = np.where(np.isnan(dist), geo, dist)
    pat_route = r_code[starts]
    pat_dir = direction[starts]
    route_pat = np.full((len(route_ids), 2), -1, dtype=np.int64)
    route_pat[pat_route, np.clip(pat_dir, 0, 1)] = np.arange(starts.size)
    seq = np.arange(pat_key.size) - pat_ptr[pat_of_pos]
    pos_key = pat_of_pos * n_stops + s_code
    order = np.argsort(pos_key, kind="stable")
    from cityhub.transit.spatial import to_xy

    lat0 = float(np.nanmean(lat)) if lat.size else 0.0
    lon0 = float(np.nanmean(lon)) if lon.size else 0.0
    x, y = to_xy(lat, lon, lat0, lon0)
    return Network(stop_ids, lat, lon, is_metro, district, route_ids, pat_route, pat_dir, pat_ptr, s_code, dist,
                   route_pat, pos_key[order], seq[order], x.astype(np.float32), y.astype(np.float32))


def _metres(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    from cityhub.transit.spatial import metres

    return np.asarray(metres(lat1, lon1, lat2, lon2))


def take(dictionary: pa.Array, idx: np.ndarray) -> pa.Array:
    """Strings of ``dictionary`` at ``idx`` (-1 → null), without a Python loop."""
    valid = idx >= 0
    safe = np.where(valid, idx, 0).astype(np.int32)
    if len(dictionary) == 0:
        return pa.nulls(idx.size, dictionary.type)
    arr = pa.DictionaryArray.from_arrays(pa.array(safe, mask=~valid), dictionary)
    return arr.cast(dictionary.type)
