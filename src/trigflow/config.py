"""Frozen settings, built once by the CLI (the composition root) and passed down. Imports nothing of ours."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGIONS = (
    "ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-nanjing", "ap-chengdu", "ap-chongqing",
    "ap-hongkong", "ap-singapore", "ap-bangkok", "ap-jakarta", "ap-seoul", "ap-tokyo", "ap-mumbai",
    "na-siliconvalley", "na-ashburn", "na-toronto", "eu-frankfurt", "sa-saopaulo",
    "ap-shanghai-fsi", "ap-shenzhen-fsi", "ap-beijing-fsi",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    data_dir: Path = field(default_factory=lambda: Path.home() / ".trigflow")
    db_url: str | None = None  # default: SQLite file in data_dir
    app_id: str = "1300000000"  # AppId shown on runs; a self-hosted install has one "account"
    regions: tuple[str, ...] = DEFAULT_REGIONS  # empty tuple = accept any region
    rate_limit_per_second: float = 20.0  # per action per key, like the real service
    max_clock_skew_s: int = 300
    kill_grace_seconds: float = 5.0
    fallback_tick_seconds: float = 1.0  # the scheduler is event-driven; this only bounds missed wake-ups
    strict_unknown_parameters: bool = True  # UnknownParameter like Tencent; False ignores unknown fields
    admin_secret_id: str | None = None
    admin_secret_key: str | None = None
    default_timezone: str = "Asia/Shanghai"
    # What a "minute" of RetryWaitMinute / ExecutionTTLMinute / WaitExecutionTotalTTLMinute lasts, in ms.
    # 60000 in production; tests and demos shrink it so retry and timeout behaviour is observable quickly.
    minute_ms: int = 60_000
    default_slots: int = 64  # capacity of the default resource group created at first start
    # A fire due at most this long before the scheduler (re)started still happens, once (Quartz's
    # misfire threshold); older missed fires are not caught up unless a trigger opts in (Q-TR3).
    misfire_grace_ms: int = 60_000
    # --- front door hardening (docs/security.md, docs/limits.md "HTTP server") ---
    allow_unsigned_payload: bool = False  # X-TC-Content-SHA256: UNSIGNED-PAYLOAD turns one capture into a pass
    allow_v1_signing: bool = False  # legacy HmacSHA1/HmacSHA256 `Signature` parameter
    tls_cert: str | None = None  # PEM certificate (chain) file; with tls_key, serve HTTPS
    tls_key: str | None = None
    header_timeout_s: float = 10.0  # a request head must be complete this long after its first byte
    idle_timeout_s: float = 5.0  # keep-alive connection closed after this long without a request
    body_timeout_s: float = 10.0  # a body must arrive within this plus its size at body_min_rate
    body_min_rate: int = 64 * 1024  # bytes per second a body upload is granted on top of body_timeout_s
    max_connections: int = 1000  # open client connections; clamped to half the descriptor limit
    max_large_bodies: int = 8  # concurrent request bodies over 64 KiB being received
    auth_failures_per_minute: int = 60  # per client address; beyond it RequestLimitExceeded without checking
    log_lines_per_second: float = 20.0  # per message template; the excess is counted and summarised
    # --- definition quotas (docs/limits.md "Definitions", "File arrival") ---
    max_nested_runs: int = 1000  # runs one top-level run may create through nested RunWorkflow nodes
    max_code_bytes: int = 1024 * 1024  # CodeContent of one task, decoded
    # Directories FILE_ARRIVAL triggers may watch (never /proc, /sys, /dev); default: the system temp dir.
    file_arrival_roots: tuple[str, ...] = field(default_factory=lambda: (tempfile.gettempdir(),))
    file_arrival_max_entries: int = 10_000  # directory entries one scan may visit
    stall_after_seconds: float | None = None  # no loop pass for this long: /healthz 503 (None: max(30, 10 ticks))
    # --- task parameters and environment (docs/parameters.md, docs/limits.md "Task parameters") ---
    max_expanded_chars: int = 16 << 20  # characters one attempt's ${...} substitution may build (code + values)
    max_param_chars: int = 1 << 20  # longest data value (run-time parameter, upstream output, file list)
    # Attempts outlive a crash of the server under a keeper process that records their exits (ADR 0005).
    keeper: bool = True
    # A graceful stop (SIGTERM) kills running tasks only when asked, or when no keeper can hand them on.
    kill_on_stop: bool = False
    task_env: tuple[str, ...] = ()  # server variables passed to tasks beyond the allow-list (NAME or PREFIX*)
    # --- task attempts (docs/limits.md "Task attempts", docs/adr/0003-attempt-isolation.md) ---
    max_log_bytes: int = 64 << 20  # log kept per attempt; past it the middle is dropped (0 = unbounded)
    max_task_processes: int = 512  # processes + threads per attempt (cgroup pids.max; 0 = unbounded)
    # --- Celery workers (docs/workers.md, docs/adr/0006-celery-workers.md); no broker: everything local ---
    broker_url: str | None = None  # redis://... or amqp://...: groups with workers run on them
    worker_token_file: str | None = None  # default <data dir>/worker-token, created 0600 on first start
    worker_lease_s: float = 30.0  # an attempt whose worker has not reported for this long is lost
    remote_groups: tuple[str, ...] = ()  # resource group ids that always go to workers (even before one registers)
    advertise_urls: tuple[str, ...] = ()  # where workers reach this server (default: app.default_advertise_urls)
    visibility_timeout_s: int = 86_400  # Redis redelivery of an unacked message (ANCHORS C1)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'trigflow.db'}"

    @property
    def worker_token_path(self) -> Path:
        return Path(self.worker_token_file) if self.worker_token_file else self.data_dir / "worker-token"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @staticmethod
    def env_admin_pair() -> tuple[str | None, str | None]:
        return os.environ.get("TRIGFLOW_SECRET_ID"), os.environ.get("TRIGFLOW_SECRET_KEY")
