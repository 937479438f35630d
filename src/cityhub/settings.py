"""Every setting CityHub reads, declared once: type, default and help.

Settings come from the environment (prefix ``CITYHUB_``).
``docs/settings.md`` is generated from this module and a test keeps the two in step.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-in-production"  # noqa: S105 - the placeholder we refuse


class Settings(BaseSettings):
    """CityHub settings."""

    model_config = SettingsConfigDict(env_prefix="CITYHUB_", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; placeholder secrets are refused outside development."
    )
    home: Path = Field(Path("var"), description="Directory for the embedded store: SQLite file, uploads, indexes.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the catalog database. Empty: SQLite at $CITYHUB_HOME/cityhub.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db.",
    )
    secret_key: str = Field(
        PLACEHOLDER_SECRET, description="Secret for session signing and the audit-log HMAC. Required in production."
    )
    admin_password: str = Field(
        "", description="Password given to the demo platform admin `admin`; empty: generated and printed once."
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public base URL (scheme://host[:port][/path]). When set, every link the server builds uses it. "
        "When not set, links in API responses (CKAN `help`, resource and package URLs) come from each request: its "
        "scheme, Host and mount path, or X-Forwarded-Proto/-Host/-Prefix from CITYHUB_TRUSTED_PROXIES only; links "
        "built outside a request (CLI, jobs) use this default.",
    )
    site_title: str = Field("开放广州", description="Portal title.")
    city_name: str = Field("广州市", description="City name shown in the portal.")
    open_dataset_target: int = Field(800, description="Plan target for the number of open datasets (plan table 1).")
    session_idle_minutes: int = Field(30, description="A session ends after this many minutes without a request.")
    session_absolute_hours: int = Field(12, description="A session ends this many hours after sign-in, in any case.")
    login_max_failures: int = Field(
        5, description="Failed sign-ins to one account (since its last success) before it is locked; each further "
        "failure doubles the lock. Kept per account name, whether or not the account exists.")
    login_lock_minutes: int = Field(1, description="Length of the first lock of an account, in minutes.")
    login_lock_max_minutes: int = Field(
        1440, description="Longest lock of an account, in minutes; failures older than this are forgotten.")
    login_address_max_failures: int = Field(
        100, description="Failed sign-ins from one client address (any accounts) within "
        "CITYHUB_LOGIN_WINDOW_MINUTES before that address is refused for the rest of the window.")
    login_window_minutes: int = Field(15, description="Window over which failed sign-ins per address are counted.")
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For, "
        "X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix are believed (the client is the last address a "
        "trusted proxy appended; host and prefix are the right-most values). Empty: no proxy is trusted and the "
        "client is the connecting address.")
    admin_totp_required: bool | None = Field(
        None, description="Platform admins must sign in with a TOTP code. Empty: required when CITYHUB_ENV=production."
    )
    temporary_password_hours: int = Field(
        72, description="How long a one-time password set by an administrator's reset stays usable; the user must "
        "choose a new password when signing in with it.")
    token_default_days: int = Field(90, description="Default lifetime of an API token in days.")
    max_upload_mb: int = Field(200, description="Largest accepted upload, in MiB (larger: HTTP 413, counted while "
                               "the body streams in, with or without a Content-Length).")
    max_json_mb: int = Field(10, description="Largest request body that is not a file upload (JSON, forms), in MiB "
                             "(larger: HTTP 413).")
    max_json_depth: int = Field(64, description="Deepest nesting of arrays/objects accepted in a JSON request body "
                                "(deeper: HTTP 422, or CKAN's 400 JSON Error).")
    max_description_chars: int = Field(20000, description="Longest accepted abstract/description, in characters.")
    cookie_secure: bool = Field(
        False, description="Mark cookies Secure also outside production (always in production and on HTTPS requests).")
    hsts_seconds: int = Field(
        31536000, description="max-age of the Strict-Transport-Security header sent in production (0: none).")
    audit_head_path: str = Field(
        "", description="File holding the latest signed tree head (size, root, time; Ed25519) of the audit log's "
        "Merkle tree, written after every commit that appends to it; `cityhub audit verify` detects records cut "
        "from the end against it. Empty: $CITYHUB_HOME/audit-head.json. Put it where the database's administrators "
        "cannot write.")
    audit_signing_key: str = Field(
        "", description="PEM file of the Ed25519 private key that signs the audit log's tree heads. Empty: "
        "$CITYHUB_HOME/audit-signing-key.pem. Created (mode 0600) on first use when the file does not exist; "
        "publish its public key (`cityhub audit sth key`) to whoever keeps or checks tree heads.")
    audit_sth_minutes: int = Field(
        10, description="How often the web process issues and stores a signed tree head of the audit log, when the "
        "log grew since the last one (0: never; `cityhub audit sth issue` issues one on demand).")
    search_rows_max: int = Field(1000, description="Largest page size of package_search (larger rows are capped, as "
                                 "CKAN's ckan.search.rows_max).")
    ckan_group_list_max: int = Field(1000, description="Most names organization_list / group_list return in one call "
                                     "(CKAN's ckan.group_and_organization_list_max; larger limits are capped).")
    ckan_group_list_all_fields_max: int = Field(
        25, description="Most dicts organization_list / group_list return with all_fields (CKAN's "
        "ckan.group_and_organization_list_all_fields_max).")
    datastore_auto_load: bool = Field(True, description="Load uploaded tabular resources into the datastore.")
    datastore_sql_timeout_s: float = Field(
        5.0,
        description="Deadline of one datastore search, aggregate, statistics or SQL query, in seconds: DuckDB is "
        "interrupted (a user-SQL worker process that does not stop is killed).",
    )
    datastore_row_cap: int = Field(10000, description="Most rows datastore_search_sql returns.")
    datastore_memory_limit: str = Field(
        "1GB",
        description="DuckDB memory limit of one load or query; a user-SQL worker process is also capped by the "
        "kernel at this plus 256 MiB.",
    )
    datastore_threads: int = Field(2, description="DuckDB threads for one load or query.")
    datastore_search_threads: int = Field(
        1,
        description="DuckDB threads of one datastore_search (row search; also the exchange API's): a page of "
        "rows is a short query, and a second thread costs more CPU in task scheduling than it saves (2.2 against "
        "3.5 ms of CPU for a filtered 100-row page of a 1M-row table); the query slots keep the cores busy.",
    )
    exchange_search_threads: int = Field(
        4,
        description="Exchange API searches one server process runs at once (its own threads); further calls wait "
        "their turn in arrival order. Fewer threads contending for Python's interpreter lock keep the latency tail "
        "short under load (p99 of 50 clients 224 -> 136 ms in a probe, BENCHMARKS.md); 0: the shared pool of 40 threads.",
    )
    datastore_answer_cache_mb: int = Field(
        64,
        description="MiB of datastore_search answers kept per server process (an LRU; 0: off). A published table "
        "version never changes, so an answer is reused for the same version, scope (grant, de-identified view) and "
        "parameters; authorization, the grant decision and the metering still run on every call. One answer may "
        "take at most 1/16 of it (and 1 MiB).",
    )
    datastore_max_result_mb: int = Field(
        32,
        description="Most MiB of values one datastore search, aggregate, statistics or SQL answer may hold, "
        "counted while the rows stream out of DuckDB; past it the query stops with an error.",
    )
    datastore_export_timeout_s: float = Field(
        300.0,
        description="DuckDB working time allowed to one streamed download, in seconds (time spent waiting for "
        "the client does not count).",
    )
    datastore_temp_max_mb: int = Field(
        4096,
        description="Most MiB one query may spill to disk (DuckDB max_temp_directory_size, under "
        "$CITYHUB_HOME/datastore/tmp/duckdb).",
    )
    datastore_query_slots: int = Field(
        2,
        description="Datastore queries that may run at once on this machine, all server processes together "
        "(0: no cap); each may use the memory limit.",
    )
    datastore_queue_wait_s: float = Field(
        2.0, description="How long a datastore query waits for a free slot before a 429 'busy, retry' answer."
    )
    datastore_max_columns: int = Field(1000, description="Widest table a load accepts.")
    datastore_queryable_first: bool = Field(
        True,
        description="First load of a large CSV table (datastore_queryable_first_min_mb): serve an untyped copy "
        "through a typed view (provisional types, status 'typing') as soon as it is written, and swap to the typed "
        "table when whole-file typing ends. At 10M rows the table is queryable in ~4 s instead of ~9 s, for ~1.4x "
        "the CPU of the whole load (BENCHMARKS.md).",
    )
    datastore_queryable_first_min_mb: float = Field(
        64.0,
        description="Smallest CSV file (MiB) served queryable first; a smaller file is typed in a few seconds, "
        "before a copy would be of use.",
    )
    datastore_memory_scratch_mb: int = Field(
        4096,
        description="Largest transcoded UTF-8 copy (MiB) of a non-UTF-8 CSV file (GB18030) that ingest writes to "
        "memory (/dev/shm) instead of datastore_dir/tmp, when that directory has room for twice the copy and the "
        "machine has four times it available; the copy is read once and deleted. 0: always on disk.",
    )
    preview_max_mb: int = Field(16, description="Most of a stored GeoJSON file that its map preview reads, in MiB "
                                "(a larger file is previewed partially, with a note).")
    preview_max_features: int = Field(5000, description="Most features a GeoJSON map preview shows.")
    preview_max_vertices: int = Field(100000, description="Most coordinate positions a GeoJSON map preview keeps "
                                      "(counted while each feature is read, so one huge polygon stops it too).")
    jobs_inline: bool = Field(False, description="Run background jobs in the caller's thread (tests, scripts).")
    load_workers: int = Field(
        0, description="Datastore loads run at once per process, scheduled round-robin across departments. 0: "
        "one per CPU (at least 2), no more than half the memory allows at CITYHUB_DATASTORE_MEMORY_LIMIT each, "
        "at most 16."
    )
    harvest_check_minutes: int = Field(
        5, description="How often the web process starts the harvest sources whose schedule is due (0: never)."
    )
    harvest_allowed_networks: str = Field(
        "", description="Networks the harvester may reach although they are not public (comma-separated CIDR, "
        "e.g. `10.20.0.0/16,127.0.0.1`). Empty: public addresses only; loopback, private, link-local, CGNAT, "
        "multicast, reserved and IPv6 unique-local addresses are refused."
    )
    # sensing transport (MQTT receiver, embedded broker, NATS JetStream): docs/sensing-transport.md
    mqtt_url: str = Field(
        "", description="MQTT broker the sensing receiver subscribes to, `mqtt://[user:password@]host:port` "
        "(e.g. mqtt://127.0.0.1:1883). Empty: `cityhub sensing receive` starts the embedded amqtt broker on "
        "CITYHUB_MQTT_EMBEDDED_PORT and subscribes to it.")
    mqtt_client_id: str = Field(
        "cityhub-ingest", description="Fixed MQTT client id of the receiver: with it the broker keeps the "
        "persistent session (QoS 1 messages queued while the receiver is away). Give each receiver its own.")
    mqtt_topic_prefix: str = Field(
        "cityhub/v1", description="Prefix of the device topics `<prefix>/devices/<code>/telemetry` and of the "
        "gateway topic `<prefix>/gateway/telemetry`.")
    mqtt_shared_group: str = Field(
        "", description="When set, the receiver subscribes as `$share/<group>/…` so several receivers split "
        "the messages (MQTT 5 shared subscriptions; Mosquitto ≥ 2, EMQX).")
    mqtt_receive_maximum: int = Field(
        2000, description="MQTT 5 Receive Maximum the receiver announces: unacknowledged QoS 1 messages the "
        "broker may have in flight to it (it acknowledges after the pipeline stored a batch).")
    mqtt_batch_size: int = Field(500, description="Messages the receiver hands to the pipeline in one batch.")
    mqtt_batch_ms: int = Field(50, description="Longest wait, in milliseconds, before a partial batch is handed on.")
    mqtt_embedded_port: int = Field(
        1883, description="Port of the embedded amqtt broker started when CITYHUB_MQTT_URL is empty.")
    nats_url: str = Field(
        "", description="NATS server with JetStream (e.g. nats://127.0.0.1:4222). When set, the MQTT and HTTP "
        "receivers append raw messages to the stream CITYHUB_NATS_STREAM and `cityhub sensing worker` processes "
        "consume it (any number, on any machine). Empty: receivers hand messages to the pipeline in process.")
    nats_stream: str = Field("CITYHUB_TELEMETRY", description="JetStream stream that holds raw telemetry.")
    nats_subject: str = Field("cityhub.telemetry", description="Subject the receivers publish raw telemetry to.")
    nats_consumer: str = Field(
        "cityhub-ingest", description="Durable pull consumer shared by all ingest workers (each message goes to "
        "one of them; unacknowledged messages are redelivered after CITYHUB_NATS_ACK_WAIT_SECONDS).")
    nats_ack_wait_seconds: float = Field(
        30.0, description="Seconds a worker has to store a batch before JetStream gives its messages to another.")
    nats_duplicate_window_seconds: float = Field(
        120.0, description="JetStream deduplication window: a message re-published with the same Nats-Msg-Id "
        "within it (a receiver retrying after a crash) is stored once.")
    sensing_demo: bool = Field(
        False, description="Run the live sensing demo inside `cityhub serve`: the embedded MQTT broker (or "
        "CITYHUB_MQTT_URL), the MQTT receiver feeding the pipeline and a small simulated fleet publishing with "
        "incidents (docs/sensing-transport.md). `cityhub serve --init` turns it on when the demo content is "
        "loaded and the variable is not set; one worker only.")
    sensing_demo_devices: int = Field(300, description="Devices of the live sensing demo besides the 11 national "
                                      "air-quality stations (registered once, reused on restart).")
    sensing_demo_interval_seconds: float = Field(15.0, description="Seconds between two rounds of readings of the "
                                                 "live sensing demo (each device reports once a round).")
    sensing_demo_cycle_minutes: float = Field(10.0, description="Minutes over which the live sensing demo replays "
                                              "its four incidents (alarms rise and clear within each cycle).")

    sensing_future_minutes: int = Field(
        5, description="Sensing: a reading time-stamped more than this many minutes ahead of the server's clock is "
        "dead-lettered (`future_timestamp`)."
    )
    sensing_ts_backend: str = Field(
        "parquet", description="Sensing time series: `parquet` (embedded: day/type-partitioned Parquet files read "
        "with DuckDB, under CITYHUB_HOME/sensing) or `postgres` (the table `sensing_reading` in "
        "CITYHUB_SENSING_TS_URL, or in the catalog database when that is PostgreSQL)."
    )
    sensing_ts_url: str = Field("", description="Sensing: PostgreSQL URL of the time-series store (empty: the "
                                "catalog database).")
    sensing_flush_rows: int = Field(200000, description="Sensing: readings buffered in memory before a Parquet "
                                    "file is written.")
    sensing_flush_seconds: float = Field(2.0, description="Sensing: the longest a buffered reading waits before it "
                                         "is written (the ingest call returns only once its readings are durable).")
    sensing_compact_seconds: float = Field(60.0, description="Sensing: seconds between two runs of the job "
                                           "`sensing_compact`, which merges the small Parquet files the flushes "
                                           "leave in a day's partition (queries then open a few files, not one per "
                                           "flush; 0: never).")
    sensing_raw_days: int = Field(30, description="Sensing: days raw readings are kept; hourly and daily "
                                  "aggregates are kept without limit (job `sensing_retention`).")
    sensing_aqi_table: str = Field("HJ633-2012", description="Sensing: AQI breakpoint table (`HJ633-2012`, or the "
                                   "provisional `HJ633-2026`, see docs/sensing.md).")
    sensing_webhook_timeout_seconds: float = Field(5.0, description="Sensing: time allowed for one webhook "
                                                   "delivery before it is retried with back-off.")
    sensing_aqi_dataset: str = Field("station-aqi-hourly", description="Sensing: name of the open dataset the "
                                     "hourly AQI of every station is appended to (job `sensing_aqi_publish`, "
                                     "hourly; created as 无条件开放 on first use).")
    sensing_aqi_department: str = Field("gz-ecology-environment", description="Sensing: department (slug) that "
                                        "owns the AQI dataset.")
    indicators_dataset: str = Field("plan-indicator-values", description="Indicators: name of the open dataset "
                                    "that holds the plan indicators' values (rewritten whenever a value changes; "
                                    "created as 无条件开放 on first use).")
    indicators_department: str = Field("gz-gov-data", description="Indicators: department (slug) of the data "
                                       "office, which owns the indicator-values dataset.")

    deid_pseudonym_key: str = Field(
        "", description="Secret key (at least 16 characters) of the keyed pseudonyms (HMAC-SHA256) in de-identified "
        "views; policies never hold it. The same key gives the same token for the same value in every view "
        "(joinable); changing it changes every token. Empty: derived from CITYHUB_SECRET_KEY.")
    deid_min_k: int = Field(
        5, ge=1, description="Smallest k (records in the smallest class over the steward's quasi-identifiers) a "
        "de-identified view may be released with (GB/T 37964-2019 k-anonymity check); below it the release is "
        "refused with the smallest classes.")
    datareq_answer_working_days: int = Field(
        20, ge=1, le=250, description="Data requests: working days (Chinese calendar, the routing day not counted) "
        "a department has to answer a request routed to it; unanswered a working day later it is overdue and "
        "escalated.")

    activity_list_limit: int = Field(
        31, ge=1, description="Activity streams: activities a list returns when no `limit` is given (CKAN's "
        "`ckan.activity_list_limit`).")
    activity_list_limit_max: int = Field(
        100, ge=1, description="Activity streams: the most activities one list returns; a larger `limit` is capped "
        "(CKAN's `ckan.activity_list_limit_max`).")
    smtp_host: str = Field("", description="Notifications: SMTP server for e-mail notifications; empty: no e-mail "
                           "is sent (notifications stay in the portal).")
    smtp_port: int = Field(25, description="Notifications: SMTP server port.")
    smtp_starttls: bool = Field(False, description="Notifications: upgrade the SMTP connection with STARTTLS.")
    smtp_user: str = Field("", description="Notifications: SMTP user name (empty: no authentication).")
    smtp_password: str = Field("", description="Notifications: SMTP password.")
    smtp_from: str = Field("noreply@localhost", description="Notifications: the From address of notification "
                           "e-mails.")
    smtp_max_attempts: int = Field(5, ge=1, description="Notifications: tries to send one notification e-mail "
                                   "before it is given up (the job retries each round).")
    notification_email_seconds: float = Field(
        60.0, description="Notifications: seconds between two rounds of the e-mail job (0: never; only when "
        "CITYHUB_SMTP_HOST is set).")

    # discussions and reuses (issue 15): abuse limits
    discussion_posts_per_minute: int = Field(
        5, ge=1, description="Discussions and reuses: posts (and reuse submissions) one account may make per minute; "
        "more: HTTP 429.")
    discussion_posts_per_day: int = Field(
        50, ge=1, description="Discussions and reuses: posts one account may make per 24 hours; more: HTTP 429.")
    discussion_address_posts_per_minute: int = Field(
        20, ge=1, description="Discussions and reuses: posts from one client address (any accounts) per minute; "
        "higher than the per-account limit since many users can share an address.")
    discussion_address_posts_per_day: int = Field(
        300, ge=1, description="Discussions and reuses: posts from one client address (any accounts) per 24 hours.")
    discussion_held_first_posts: int = Field(
        2, ge=0, description="Discussions: a public account's first posts (until this many have been approved) are "
        "held for a moderator before anyone else sees them; 0: never held.")
    reuse_image_max_kb: int = Field(
        2048, ge=1, description="Reuses: largest accepted image (PNG, JPEG or WebP), in KiB.")

    transit_od_min_count: int = Field(
        10, ge=1, description="Transit: the open OD matrices (by district, stop and custom zone) and the /transit "
        "page publish no cell of fewer journeys than this; suppressed journeys are kept in 'other destinations' "
        "rows (docs/transit.md, transit/disclosure.py). 1 publishes every cell.")
    @model_validator(mode="after")
    def _networks(self) -> Settings:
        import ipaddress

        for part in self.harvest_allowed_networks.replace(";", ",").split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"CITYHUB_HARVEST_ALLOWED_NETWORKS: not a network (CIDR): {part.strip()!r}") from None
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.env != "development" and self.secret_key in ("", PLACEHOLDER_SECRET):
            raise ValueError(
                "CITYHUB_SECRET_KEY is the placeholder; set a real secret outside development "
                f"(CITYHUB_ENV={self.env})"
            )
        if len(self.secret_key) < 16:
            raise ValueError("CITYHUB_SECRET_KEY must be at least 16 characters")
        if self.deid_pseudonym_key and len(self.deid_pseudonym_key.encode("utf-8")) < 16:
            raise ValueError("CITYHUB_DEID_PSEUDONYM_KEY must be at least 16 bytes")
        return self

    @property
    def admin_totp_enforced(self) -> bool:
        return self.env == "production" if self.admin_totp_required is None else self.admin_totp_required

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry the Secure flag (production, or asked for)."""
        return self.cookie_secure or self.env == "production"

    @property
    def resolved_audit_head_path(self) -> Path:
        return Path(self.audit_head_path) if self.audit_head_path else self.home / "audit-head.json"

    @property
    def resolved_audit_signing_key(self) -> Path:
        return Path(self.audit_signing_key) if self.audit_signing_key else self.home / "audit-signing-key.pem"

    @property
    def public_base_url(self) -> str | None:
        """The configured public base URL, or ``None`` when CITYHUB_BASE_URL is not set (derive it per request)."""
        return self.base_url.rstrip("/") if "base_url" in self.model_fields_set else None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'cityhub.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def datastore_dir(self) -> Path:
        return self.home / "datastore"

    @property
    def resolved_deid_key(self) -> bytes:
        """The pseudonym key of de-identified views: CITYHUB_DEID_PSEUDONYM_KEY, else one derived from the secret key."""
        if self.deid_pseudonym_key:
            return self.deid_pseudonym_key.encode("utf-8")
        import hashlib
        import hmac

        return hmac.new(self.secret_key.encode("utf-8"), b"cityhub-deid-pseudonym", hashlib.sha256).digest()


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()


def settings_markdown() -> str:
    """The settings reference (``docs/settings.md``), generated from the declarations above."""
    lines = ["# Settings", "", "Generated from `src/cityhub/settings.py` by `python -m cityhub.settings`; a test keeps",
             "this file in step with the code. Set them in the environment.", "",
             "| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        ann = getattr(field.annotation, "__name__", str(field.annotation)).replace("typing.", "").replace("|", "or")
        default = field.default if not isinstance(field.default, Path) else str(field.default)
        lines.append(f"| `CITYHUB_{name.upper()}` | {ann} | `{default!s}` | {field.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(settings_markdown(), end="")
