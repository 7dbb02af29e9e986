"""Settings: one pydantic-settings class, built by ``load_settings()`` and passed down.

Every field can be set by an environment variable ``MAESTRO_<FIELD>``. Nothing here is created
at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAESTRO_", extra="ignore")

    #: folder of the embedded store, logs and scratch space
    home: Path = Field(default_factory=lambda: Path.home() / ".maestro")
    #: SQLAlchemy URL; empty means the embedded SQLite file under ``home``
    database_url: str = ""
    #: SQLite ``synchronous`` pragma: NORMAL survives process crashes (WAL), FULL power loss too
    sqlite_synchronous: str = "NORMAL"
    #: folder that relative paths of steps resolve against (workers)
    project_dir: Path = Field(default_factory=Path.cwd)
    #: name this process reports on the attempts it runs
    worker_name: str = ""
    #: threads executing attempts in the embedded dispatcher
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    #: a distributed worker reserves messages beyond its free slots (faster fan-out of very
    #: short steps; a busy worker then holds steps an idle one could start)
    worker_prefetch: bool = False
    #: seconds between heartbeats of a running attempt
    heartbeat_interval: float = Field(default=2.0, gt=0)
    #: an attempt whose last heartbeat is older than this is LOST
    heartbeat_timeout: float = Field(default=30.0, gt=0)
    #: a QUEUED attempt not claimed within this many seconds is dispatched again
    redispatch_after: float = Field(default=30.0, gt=0)
    #: the scheduler loop's safety-net poll interval, in seconds
    poll_interval: float = Field(default=1.0, gt=0)
    #: seconds between SIGTERM and SIGKILL when a step's process must stop
    kill_grace: float = Field(default=5.0, ge=0)
    #: the most bytes one attempt's log keeps (its start and its last MiB); unset: no cap
    max_log_bytes: int | None = Field(default=100 * 1024 * 1024, ge=4096)
    #: rows a scheduler pass handles per kind of work (bounded batches)
    batch_size: int = Field(default=200, ge=1)
    #: schedulers delete runs that ended more than this many days ago, once a day (as
    #: ``maestro db prune`` does); unset: runs are kept forever
    retention_days: float | None = Field(default=None, gt=0)
    #: with retention_days: each workflow's newest runs kept whatever their age
    retention_keep_last: int = Field(default=0, ge=0)
    #: Celery broker of the distributed mode (``redis://host:6379/0``)
    broker_url: str = "redis://127.0.0.1:6379/0"
    #: Spark master used when a spark/stream step names none
    spark_master: str = "local[*]"
    #: YAML file of named connections (``name: sqlalchemy-url``); MAESTRO_CONN_<NAME> wins
    connections_file: Path | None = None
    #: API bearer tokens required? None: on for ``maestro server``, off for ``standalone``
    auth: bool | None = None
    #: largest request body the API accepts, in bytes (413 beyond)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Host names the API answers to, comma-separated (``maestro.example.com,10.0.0.5``);
    #: empty: the loopback names when it listens on loopback, any name otherwise
    allowed_hosts: str = ""
    #: other origins whose web pages may call the API, comma-separated
    #: (``https://dash.example.com``); empty: none, and no CORS headers are sent
    cors_origins: str = ""
    #: the address users open the web view at, for links in alerts (``https://maestro.example.com``);
    #: empty: ``api_url``
    public_url: str = ""
    #: seconds before an alert's first retry; each next one waits twice as long, at most
    #: ``alert_retry_max``; tries stop ``alert_give_up_after`` seconds after the first (FAILED)
    alert_retry_first: float = Field(default=10.0, gt=0)
    alert_retry_max: float = Field(default=3600.0, gt=0)
    alert_give_up_after: float = Field(default=86400.0, gt=0)
    #: seconds one delivery may take (HTTP request, SMTP session, Python call)
    alert_timeout: float = Field(default=10.0, gt=0)
    #: refuse a definition whose alert names a connection this process cannot resolve (turn
    #: off where the API process does not hold the schedulers' connections)
    alert_check_connections: bool = True
    #: the API the client commands talk to (``maestro workflow …``, ``maestro runs …``)
    api_url: str = "http://127.0.0.1:8080"
    #: bearer token the client commands send (``maestro token create`` prints one)
    token: str = ""

    @field_validator("sqlite_synchronous")
    @classmethod
    def _known_sync_mode(cls, value: str) -> str:
        mode = value.upper()
        if mode not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return mode

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'maestro.db'}"

    @property
    def allowed_host_list(self) -> list[str]:
        return _comma_list(self.allowed_hosts)

    @property
    def cors_origin_list(self) -> list[str]:
        return _comma_list(self.cors_origins)

    @property
    def web_url(self) -> str:
        """Where the web view's pages are, without a trailing slash."""
        return (self.public_url or self.api_url).rstrip("/")

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags, tests) winning."""
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the values
