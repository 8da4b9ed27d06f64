"""Installation settings, read from VPBX_* environment variables (documented in README.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    sip_auth_ban_seconds: float = Field(
        default=600.0, description="how long a source is ignored after 10 failed logins a minute"
    )
    redis_url: str = ""
    log_level: str = "INFO"
    log_json: bool = True

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vpbx.db').resolve()}"
