"""Installation settings, read from VPBX_* environment variables (documented in README.md)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vpbx.domain.net_policy import Network, parse_networks
from vpbx.services.mailer import SmtpSettings, parse_retry_delays


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VPBX_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="where the database and files live")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite in data_dir")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    sip_host: str = "0.0.0.0"
    sip_port: int = 5060
    public_host: str = Field(default="127.0.0.1", description="host shown to users for SIP lines")
    sip_realm: str = "vpbx"
    generate_system_messages: bool = Field(
        default=True, description="generate the default system messages (TTS) at start"
    )
    rtp_host: str = Field(default="", description="where RTP is bound; empty = sip_host")
    rtp_port_min: int = 20000
    rtp_port_max: int = 30000
    kernel_rtp: Literal["auto", "off"] = Field(
        default="auto",
        description="bridged calls' plain audio forwarded by the kernel (nftables) when the "
        "switch has CAP_NET_ADMIN and nft; off = always in the switch process",
    )
    sip_auth_ban_seconds: float = Field(
        default=600.0, description="how long a source is ignored after 10 failed logins a minute"
    )
    sip_tcp_per_source: int = Field(
        default=50, ge=1, description="TCP/TLS connections one address may hold open"
    )
    sip_tcp_partial_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds a TCP/TLS connection may go without a complete message "
        "(a new one before its first message, any one in the middle of a message)",
    )
    sip_tcp_idle_timeout: float = Field(
        default=900.0, gt=0, description="seconds an established TCP/TLS connection may be silent"
    )
    sip_tcp_max_connections: int = Field(
        default=0,
        ge=0,
        description="TCP/TLS connections in all; 0 = the descriptor limit minus the RTP port "
        "range and sip_fd_reserve",
    )
    sip_fd_reserve: int = Field(
        default=512, ge=0, description="descriptors kept free beside RTP (database, files)"
    )
    sip_tls_port: int = Field(default=5061, ge=0, description="SIP over TLS; 0 = off")
    sip_tls_cert: str = Field(
        default="",
        description="PEM certificate (chain) of SIP over TLS; empty = a self-signed one "
        "generated into data_dir (for the demo)",
    )
    sip_tls_key: str = Field(default="", description="PEM private key of sip_tls_cert")
    redis_url: str = Field(
        default="",
        description="Redis shared by several switch nodes (distribution and queue state, "
        "registrations, configuration news); empty = one node",
    )
    redis_prefix: str = Field(
        default="main",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="this installation's key prefix in Redis (several on one Redis)",
    )
    stall_trace_ms: float = Field(
        default=0.0,
        ge=0.0,
        description="a diagnostic: while the switch's loop is this many ms late, sample what "
        "it runs and log it (vpbx.stall_trace); 0 = off",
    )
    web_dir: str = Field(
        default="",
        description="the built web cabinet (index.html, assets/) the API serves at /; "
        "empty = web/dist of the source tree",
    )
    http_max_body: int = Field(
        default=1_048_576, ge=1024, description="bytes a request body may have (413 beyond)"
    )
    http_max_import_body: int = Field(
        default=33_554_432, ge=1024, description="bytes of a configuration import (PUT /config)"
    )
    http_allow_networks: str = Field(
        default="",
        description="CIDRs the server may fetch URLs from although they are inside (loopback, "
        "private, link-local…), comma separated; empty = only public addresses",
    )
    http_workers: int = Field(
        default=2, ge=1, description="uvicorn worker processes of the API (vpbx run)"
    )
    auth_access_minutes: int = Field(
        default=15, ge=1, le=1440, description="minutes a cabinet access token is valid"
    )
    auth_refresh_days: int = Field(
        default=30, ge=1, le=365, description="days a cabinet session (its refresh token) lasts"
    )
    auth_login_failures: int = Field(
        default=10, ge=1, le=10_000, description="failed logins of one login that lock it"
    )
    auth_source_failures: int = Field(
        default=100, ge=1, le=1_000_000, description="failed logins from one address that lock it"
    )
    auth_lockout_minutes: int = Field(
        default=15, ge=1, le=1440, description="the window failed logins are counted over"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="where the switch serves /metrics and /health"
    )
    # Not 9090: that is Prometheus's own port, often on the same host.
    metrics_port: int = Field(default=8081, description="the switch's /metrics and /health port")
    notify_socket: str = Field(
        default="",
        description="unix datagram socket the switch hears configuration changes on; "
        "empty = switch.sock in data_dir",
    )
    log_level: str = "INFO"
    log_json: bool = True
    smtp_host: str = Field(
        default="", description="SMTP server for voicemail mail; empty = no mail"
    )
    smtp_port: int = Field(default=25, description="SMTP port (25 relay, 587 STARTTLS, 465 TLS)")
    smtp_username: str = Field(default="", description="SMTP login; empty = no authentication")
    smtp_password: str = Field(default="", repr=False, description="SMTP password")
    smtp_from: str = Field(default="vpbx@localhost", description="the From address of the mail")
    smtp_starttls: bool = Field(
        default=False, description="require STARTTLS; false = plain SMTP even if offered"
    )
    smtp_tls: bool = Field(default=False, description="TLS from the first byte (port 465)")
    smtp_timeout: float = Field(default=10.0, description="seconds per SMTP operation")
    smtp_retry_delays: str = Field(
        default="5,30,120,600,1800",
        description="seconds to wait before each retry, comma separated; empty = no retry",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="seconds a webhook receiver has to answer (API-2)"
    )
    webhook_retry_base: float = Field(
        default=5.0, ge=0, description="seconds before a failed webhook is tried again; doubled"
    )
    webhook_retry_cap: float = Field(
        default=3600.0, ge=0, description="the longest wait between two attempts of a webhook"
    )
    webhook_give_up_after: float = Field(
        default=86400.0,
        ge=0,
        description="seconds after which an undelivered webhook is given up (reason kept)",
    )
    outbox_concurrency: int = Field(
        default=16, ge=1, description="webhooks and mails a switch node sends at once"
    )
    node_name: str = Field(
        default="",
        max_length=200,
        description="this switch node's name in the database (its calls, leases of callback "
        "tasks and outbox rows); empty = <host name>:<sip_port>, stable across restarts",
    )
    nodes: int = Field(
        default=1,
        ge=0,
        le=64,
        description="switch processes `vpbx run` starts: 1 = one switch on sip_port; N > 1 = "
        "N switch nodes behind Kamailio (which then owns sip_port; needs redis_url); "
        "0 = one per core",
    )
    front_proxies: str = Field(
        default="",
        description="host:port list of the front proxies (Kamailio) whose X-Vpbx-Source header "
        "names a request's sender; set by `vpbx run --nodes N` for its nodes",
    )
    callapi_per_minute: int = Field(
        default=30, ge=0, description="CallAPI calls an account may start per minute (429 past)"
    )
    leads_per_minute: int = Field(
        default=30,
        ge=0,
        description="web leads one source (account, source, site) may send per minute (429 past)",
    )
    record_by_phone_per_minute: int = Field(
        default=10,
        ge=0,
        description="sound files an account may ask to record by phone per minute (429 past)",
    )

    @field_validator("http_allow_networks")
    @classmethod
    def _allow_networks_parse(cls, value: str) -> str:
        parse_networks(value)  # a typo stops the start, not the first CRM request
        return value

    def allow_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.http_allow_networks)

    @field_validator("smtp_retry_delays")
    @classmethod
    def _retry_delays_parse(cls, value: str) -> str:
        # Checked when the settings are read, so a typo stops the start, not the first voicemail.
        parse_retry_delays(value)
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vpbx.db').resolve()}"

    def node(self) -> str:
        """The node's name: several switch nodes on one database need distinct ones, and a
        node's restart must find its own rows (calls to close, leases to release)."""
        return self.node_name or f"{socket.gethostname()}:{self.sip_port}"

    def notify_socket_path(self) -> Path:
        return Path(self.notify_socket) if self.notify_socket else self.data_dir / "switch.sock"

    def smtp(self) -> SmtpSettings:
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username,
            password=self.smtp_password,
            sender=self.smtp_from,
            starttls=self.smtp_starttls,
            use_tls=self.smtp_tls,
            timeout=self.smtp_timeout,
            retry_delays=parse_retry_delays(self.smtp_retry_delays),
        )
