"""Process settings, read once from the environment at start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    """Everything the process reads from its environment.

    Secrets are `SecretStr`, so they never show in a repr or a log line.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = SLACK_API_URL
    redis_url: str | None = None
    quorum_thread_ttl_days: int = Field(default=7, ge=1, le=365)
    port: int = Field(default=3000, ge=1, le=65535)
    quorum_config: Path = Path("quorum.toml")
    quorum_metrics: bool = False  # serve Prometheus metrics at /metrics

    @field_validator(
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "redis_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`SLACK_APP_TOKEN=` in a .env file means "not set", not an empty token."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def panel_path(self) -> Path | None:
        """The panel file to read; None means the built-in panel.

        The default `./quorum.toml` may be absent; a QUORUM_CONFIG that names
        a missing file is a mistake worth stopping for.
        """
        path = self.quorum_config
        if path.is_file():
            return path
        if "quorum_config" in self.model_fields_set:
            raise ConfigError(f"QUORUM_CONFIG={path}: no such file")
        return None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def thread_ttl(self) -> timedelta:
        """How long a thread's conversation is remembered after its last write."""
        return timedelta(days=self.quorum_thread_ttl_days)


def load_settings() -> Settings:
    """Read the environment once; a bad value stops start-up with one line."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        raise ConfigError(f"{name}: {error['msg']}") from None
