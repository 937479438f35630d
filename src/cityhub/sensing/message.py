"""What a transport (MQTT, HTTP, a JetStream consumer) hands to the ingest pipeline: a raw message, not yet
parsed, authenticated or validated. The pipeline (``sensing.ingest``) does all of that, so every transport gets
the same rules and the same dead-letter store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

#: ``device``: the payload holds one reading or a batch of one device, authenticated by that device's token;
#: ``gateway``: the payload holds readings of many devices (``{"<device code>": [readings…], …}``),
#: authenticated by the gateway device's token.
Kind = Literal["device", "gateway"]


@dataclass(frozen=True, slots=True)
class RawMessage:
    kind: Kind
    credential: str          # the device's (or gateway's) access token as presented by the transport
    payload: bytes           # JSON as received
    received_at: float       # time.time() when the transport received it
    source: str = "mqtt"     # "mqtt" | "http" | "stream"
    device: str = ""         # the device code named by the topic or URL, when the transport knows it


#: the pipeline's entry point as transports see it: takes a batch, returns when it is durably stored
#: (readings kept or dead-lettered); transports acknowledge (MQTT PUBACK, JetStream ack) only after it returns.
Sink = Callable[[Sequence[RawMessage]], object]
