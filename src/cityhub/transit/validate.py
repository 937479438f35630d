"""Compare a run with the simulator's ground truth: inference rate, alighting-stop accuracy (exact and
within one stop), bus boarding accuracy, journey-linking precision/recall/F1 — beside published figures.

Stages are matched to the truth by (card, recorded boarding time).
Pure: imports nothing from the rest of CityHub but the transit modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.transit.network import codes

#: what the literature reports, to put beside ours
PUBLISHED = {
    "santiago_munizaga_palma_2012": "alighting estimated for > 80 % of boardings; ~90 % correct (Munizaga et al. 2014)",
    "mbta_odx_2014": "destinations inferred: bus 56.4 %, LRT 77.0 %, heavy rail 74.8 %",
    "gatineau_he_trepanier_2015": "80.6 % of 908,303 monthly transactions",
    "trimet_odx": "95 % of ~1,000 sampled journeys judged correct",
}
#: the targets on the simulator (issue 14)
TARGETS = {"rate_multi_tap": 0.85, "exact_of_inferred": 0.85, "link_f1": 0.95}


def _key(card: pa.ChunkedArray, ts: pa.ChunkedArray) -> pa.ChunkedArray:
    # whole seconds whatever the unit (Parquet stores timestamp[s] as timestamp[ms])
    secs = pc.cast(pc.cast(ts, pa.timestamp("s")), pa.int64())
    return pc.binary_join_element_wise(card, pc.cast(secs, pa.string()), "|")


def _adjacent(route_stops: pa.Table) -> set[tuple[str, str]]:
    rs = route_stops.sort_by([("route_id", "ascending"), ("direction", "ascending"), ("seq", "ascending")])
    r = rs.column("route_id").to_pylist()
    d = rs.column("direction").to_pylist()
    s = rs.column("stop_id").to_pylist()
    pairs = set()
    for i in range(1, len(s)):
        if r[i] == r[i - 1] and d[i] == d[i - 1]:
            pairs.add((s[i - 1], s[i]))
            pairs.add((s[i], s[i - 1]))
    return pairs


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def compare(stages: pa.Table, truth: pa.Table, route_stops: pa.Table) -> dict[str, Any]:
    t_key = _key(truth.column("card_id"), truth.column("board_ts"))
    s_key = _key(stages.column("card_id"), stages.column("board_ts"))
    ti = codes(s_key, t_key.combine_chunks())
    matched = ti >= 0
    tis = np.maximum(ti, 0)
    ns = stages.num_rows
    card = stages.column("card_id").combine_chunks()
    day = stages.column("service_day").cast(pa.int32()).to_numpy()
    same_cd_next = np.zeros(ns, dtype=bool)
    if ns > 1:
        same_cd_next[:-1] = np.asarray(pc.equal(card[1:], card[:-1]).to_numpy(zero_copy_only=False), bool) & \
            (day[1:] == day[:-1])
    cd_id = np.cumsum(np.concatenate([[True], ~same_cd_next[:-1]])) - 1 if ns else np.zeros(0, np.int64)
    multi = np.bincount(cd_id)[cd_id] >= 2 if ns else np.zeros(0, bool)
    src = np.asarray(stages.column("dest_source").to_numpy(zero_copy_only=False), dtype=object)
    has = src != ""
    inferred = src == "inferred"
    pred = np.asarray(stages.column("alight_stop").fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    true_alight = np.asarray(truth.column("alight_stop").fill_null("").to_numpy(zero_copy_only=False),
                             dtype=object)[tis]
    true_board = np.asarray(truth.column("board_stop").fill_null("").to_numpy(zero_copy_only=False),
                            dtype=object)[tis]
    board = np.asarray(stages.column("board_stop").fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    is_bus = np.asarray(pc.equal(stages.column("mode"), "bus").to_numpy(zero_copy_only=False), dtype=bool)
    exact = matched & has & (pred == true_alight)
    adj = _adjacent(route_stops)
    cand = np.flatnonzero(matched & has & ~exact)
    near = np.zeros(ns, dtype=bool)
    near[cand] = [(pred[i], true_alight[i]) in adj for i in cand]
    within1 = exact | near
    m_inf = matched & inferred
    out: dict[str, Any] = {
        "stages": ns, "matched_to_truth": int(matched.sum()),
        "multi_tap_stages": int((multi & matched).sum()),
        "rate_multi_tap": _ratio(int((multi & matched & has).sum()), int((multi & matched).sum())),
        "rate_all": _ratio(int((matched & has).sum()), int(matched.sum())),
        "exact_of_inferred": _ratio(int((exact & m_inf).sum()), int(m_inf.sum())),
        "within_one_stop_of_inferred": _ratio(int((within1 & m_inf).sum()), int(m_inf.sum())),
        "exact_with_destination": _ratio(int(exact.sum()), int((matched & has).sum())),
    }
    for name, m in (("bus", is_bus), ("metro", ~is_bus)):
        mm = matched & m
        out[name] = {"rate": _ratio(int((mm & has).sum()), int(mm.sum())),
                     "exact_of_inferred": _ratio(int((exact & m_inf & m).sum()), int((m_inf & m).sum()))}
    bus_m = matched & is_bus & (board != "")
    out["bus_boarding_exact"] = _ratio(int((bus_m & (board == true_board)).sum()), int((matched & is_bus).sum()))
    # linking: consecutive stage pairs of a card-day, both matched
    tj = np.asarray(truth.column("journey_id").to_numpy(), dtype=np.int64)[tis]
    transfer = np.asarray(stages.column("transfer").to_numpy(zero_copy_only=False), dtype=bool)
    if ns > 1:
        pair = same_cd_next[:-1] & matched[:-1] & matched[1:]
        true_link = pair & (tj[:-1] == tj[1:])
        pred_link = pair & transfer[1:]
        tp = int((true_link & pred_link).sum())
        fp = int((~true_link & pred_link).sum())
        fn = int((true_link & ~pred_link).sum())
    else:
        tp = fp = fn = 0
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    out["linking"] = {"true_links": tp + fn, "predicted_links": tp + fp, "precision": _round(precision),
                      "recall": _round(recall), "f1": _round(f1)}
    out["link_f1"] = _round(f1)
    out["targets"] = {k: {"target": v, "measured": out.get(k), "met": (out.get(k) or 0) >= v}
                      for k, v in TARGETS.items()}
    out["published"] = PUBLISHED
    return out


def _round(x: float | None) -> float | None:
    return round(x, 4) if x is not None else None
