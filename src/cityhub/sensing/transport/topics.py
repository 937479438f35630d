"""Where the device token is on an MQTT message, and what the transport hands on (docs/sensing-transport.md).

Topics (``<prefix>`` is ``CITYHUB_MQTT_TOPIC_PREFIX``, default ``cityhub/v1``):

- ``<prefix>/devices/<code>/telemetry/<token>`` — one reading or a batch of device ``<code>``, token in the topic;
- ``<prefix>/gateway/telemetry/<token>`` — readings of many devices, ``{"<code>": [readings…], …}``, with the
  gateway's token in the topic;
- ``<prefix>/devices/<code>/telemetry`` and ``<prefix>/gateway/telemetry`` — the token in the payload instead:
  ``{"token": "<token>", "data": <what the topic would otherwise carry>}``; the transport unwraps ``data``.

A subscriber never sees the MQTT username a device connected with (the broker checks it, we do not), so
the token must travel in the topic or the payload. With a broker ACL such as Mosquitto's
``pattern write cityhub/v1/devices/+/telemetry/%u`` the topic token *is* the MQTT username (as in
ThingsBoard) and the broker refuses a device that publishes under another token.

A message whose token cannot be found (payload not JSON, no ``token``) is still handed on, with an empty
credential and the payload as received, so the pipeline dead-letters it with its reason; nothing is dropped.
Pure module: no import from the rest of CityHub except the message contract.
"""

from __future__ import annotations

import json

from cityhub.sensing.message import RawMessage


def subscriptions(prefix: str, shared_group: str = "") -> list[str]:
    """The topic filters the receiver subscribes to (QoS 1 each)."""
    filters = [f"{prefix}/devices/+/telemetry", f"{prefix}/devices/+/telemetry/+",
               f"{prefix}/gateway/telemetry", f"{prefix}/gateway/telemetry/+"]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


def device_topic(prefix: str, code: str, token: str = "") -> str:
    return f"{prefix}/devices/{code}/telemetry" + (f"/{token}" if token else "")


def gateway_topic(prefix: str, token: str = "") -> str:
    return f"{prefix}/gateway/telemetry" + (f"/{token}" if token else "")


def _unwrap(payload: bytes) -> tuple[str, bytes]:
    """``{"token": …, "data": …}`` → (token, data as JSON bytes); anything else → ("", payload unchanged)."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "", payload
    if not isinstance(doc, dict) or not isinstance(doc.get("token"), str) or "data" not in doc:
        return "", payload
    return doc["token"], json.dumps(doc["data"], ensure_ascii=False, separators=(",", ":")).encode()


def to_raw(prefix: str, topic: str, payload: bytes, received_at: float, source: str = "mqtt") -> RawMessage:
    """The raw message for one MQTT publication on one of ``subscriptions(prefix)``."""
    rest = topic[len(prefix) + 1:].split("/") if topic.startswith(prefix + "/") else topic.split("/")
    if rest[:1] == ["gateway"]:
        if len(rest) == 3 and rest[1] == "telemetry" and rest[2]:
            return RawMessage("gateway", rest[2], payload, received_at, source)
        token, data = _unwrap(payload)
        return RawMessage("gateway", token, data, received_at, source)
    device = rest[1] if len(rest) >= 2 and rest[0] == "devices" else ""
    if len(rest) == 4 and rest[0] == "devices" and rest[2] == "telemetry" and rest[3]:
        return RawMessage("device", rest[3], payload, received_at, source, device)
    token, data = _unwrap(payload)
    return RawMessage("device", token, data, received_at, source, device)
