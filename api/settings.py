"""Typed settings, read from ``OMS_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from commands.signing import LedgerKey
from domain.payments import MoneyPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql:// URL of the server; unset: an embedded PostgreSQL under data_dir.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="postgresql:// URL of a hot standby for the query routes; `min_position` waits until the"
        " standby has replayed it. Unset: queries read the primary.",
    )
    data_dir: Path = Field(default=Path(".oms"), description="Where the embedded PostgreSQL keeps its files.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    pool_size: int = Field(default=8, ge=1, le=200, description="Event-store connections per process.")
    reconnect_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="How long a command whose connection was lost (a restart, a failover) is tried again"
        " before it fails with 503; one whose commit's outcome is unknown is first looked up. Raise it"
        " to the orchestrator's failover time to hold commands through a switch instead of failing them.",
    )
    command_attempts: int = Field(default=10, ge=1, le=100, description="Tries per command on version conflicts.")
    group_commit: bool = Field(
        default=True, description="One writer per process saves the commands that arrive together in one transaction."
    )
    http_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="HTTP processes. Above 1, each hands its commands to the one writer of the serving process.",
    )
    access_log: bool = Field(
        default=True, description="Log a line per request (a proxy in front may log them already)."
    )
    writer_socket: str | None = Field(
        default=None, description="Set by `oms serve` for its HTTP worker processes: where the writer listens."
    )
    writer_key: str | None = Field(
        default=None, description="Set by `oms serve` for its HTTP worker processes: the writer's secret (hex)."
    )
    group_commit_max: int = Field(default=256, ge=1, le=10_000, description="Most commands in one group commit.")
    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a key check is remembered; a revocation takes this long at most."
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Largest JSON command body.")
    projection_batch_size: int = Field(default=10_000, ge=1, le=100_000, description="Events per projection batch.")
    read_wait_seconds: float = Field(default=5.0, ge=0, le=60, description="Longest wait for min_position.")
    max_import_bytes: int = Field(default=1 << 30, ge=1024, description="Largest NDJSON import body.")
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1 << 20, description="Largest request line and headers together (431 beyond)."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Longest time a client may take to send a request's headers."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: one readable line per record; json: one JSON object per line."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    signing_key: SecretStr | None = Field(
        default=None,
        description="The ledger's Ed25519 key (PEM, or 32 bytes in base64): signs checkpoints and seals stored rows."
        " Keep it outside the database; unset: rows get unkeyed digests and checkpoints cannot be signed.",
    )
    signing_key_file: Path | None = Field(default=None, description="A file holding the ledger's key, instead.")
    checkpoint_seconds: float = Field(
        default=0,
        ge=0,
        le=86_400,
        description="`oms serve` signs a checkpoint this often when the ledger grew (0: never).",
    )
    checkpoint_dir: Path | None = Field(
        default=None, description="Where `oms serve` also writes each checkpoint it signs, as a file."
    )

    over_authorization_percent: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=100,
        description="Authorized and captured may exceed what an order owes by this percentage (0: not at all).",
    )

    webhooks: bool = Field(default=True, description="`oms serve` also delivers webhooks (else: `oms webhooks work`).")
    webhook_allow_networks: str = Field(
        default="",
        description="Comma-separated networks (CIDR) webhooks may be sent to although not public, such as"
        " 10.2.0.0/16; default none: private, loopback and link-local addresses are refused.",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Longest wait for a receiver.")
    webhook_concurrency: int = Field(
        default=16, ge=1, le=256, description="Streams of one subscription delivered at once (each in order)."
    )
    webhook_max_attempts: int = Field(
        default=12, ge=1, le=100, description="Attempts before a delivery is dead (a subscription may set its own)."
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="First retry delay; it doubles each attempt (with jitter), to 6 h."
    )
    webhook_retention_days: float = Field(default=7.0, gt=0, description="How long delivered deliveries are kept.")
    webhook_rotation_grace_hours: float = Field(
        default=24.0, ge=0, le=720, description="After a secret is rotated, deliveries are signed with both this long."
    )

    smtp_url: SecretStr | None = Field(
        default=None,
        description="Where customer emails go: smtp://host:port, smtp+starttls://user:password@host:587 or"
        " smtps://...; unset: no emails are sent.",
    )
    notify_from: str = Field(default="Orders <orders@shop.example>", description="The From of customer emails.")
    notify_templates: Path | None = Field(
        default=None, description="A folder of email templates searched before the shipped ones (see docs)."
    )
    shop_name: str = Field(
        default="Our shop", max_length=200, description="Signs customer emails and the tracking page."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The service's address as customers reach it: tracking links in emails start with it.",
    )
    notify_max_age_hours: float = Field(
        default=72.0,
        gt=0,
        description="Events that happened longer ago than this get no email (imports of old orders).",
    )
    notify_retry_base_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="First wait when the mail server cannot take an email (doubles, to 10 min).",
    )

    def money_policy(self) -> MoneyPolicy:
        return MoneyPolicy(self.over_authorization_percent)

    def ledger_key(self) -> LedgerKey | None:
        """The ledger's key from the setting (an empty one is unset) or its file (BadKey if it cannot be read)."""
        if self.signing_key is not None and self.signing_key.get_secret_value().strip():
            return LedgerKey.from_text(self.signing_key.get_secret_value())
        if self.signing_key_file is not None:
            return LedgerKey.from_file(self.signing_key_file)
        return None
