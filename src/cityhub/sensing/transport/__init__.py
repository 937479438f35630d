"""Transports that bring raw device messages to the ingest pipeline: the MQTT receiver (``mqtt``), the NATS
JetStream stream and its workers (``stream``), the embedded broker for a fresh checkout (``broker``), and
the topic/credential rules they share (``topics``), the batching with acknowledge-after-store (``batcher``).

No module here imports the web layer or the database: each hands ``RawMessage`` batches to a ``Sink``."""
