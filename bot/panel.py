"""The panel file: models, aliases, labels, prices, tiers, synthesis, debate, budget.

The file is TOML (see the README for every key). Loading it either returns a
`Panel` or raises `ConfigError` with one line that names the problem.
"""

from __future__ import annotations

import math
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.budget import BudgetSpec
from bot.errors import ConfigError, ModelCallError
from bot.llm import configured_litellm

TierName = Literal["single", "dual", "full"]
TIER_NAMES: tuple[TierName, ...] = ("single", "dual", "full")
DEFAULT_CONTEXT_WINDOW = 8192  # a window we cannot look up is assumed small
Stance = Literal["for", "against", "neutral"]
STANCES: tuple[Stance, ...] = ("for", "against", "neutral")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """USD per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Cost in integer micro-dollars, rounded up so it never under-charges.

        USD per million tokens times tokens is exactly micro-dollars.
        """
        exact = prompt_tokens * self.input_per_mtok
        exact += completion_tokens * self.output_per_mtok
        return math.ceil(round(exact, 6))


class ModelSpec(_Strict):
    """One `[models.<alias>]` table."""

    alias: str
    model: str = Field(min_length=3, pattern=r"^[\w.-]+/.+$")
    label: str = ""
    api_base: str | None = None
    api_key_env: str | None = None
    input_cost_per_mtok: float | None = Field(default=None, ge=0)
    output_cost_per_mtok: float | None = Field(default=None, ge=0)
    max_tokens: int = Field(default=1500, ge=16, le=200_000)
    timeout_s: float = Field(default=120.0, gt=0, le=900)
    idle_timeout_s: float = Field(default=30.0, gt=0, le=600)
    headers: dict[str, str] = Field(default_factory=dict)
    context_window: int | None = Field(default=None, ge=1024)

    @model_validator(mode="after")
    def _prices_come_in_pairs(self) -> ModelSpec:
        if (self.input_cost_per_mtok is None) != (self.output_cost_per_mtok is None):
            raise ValueError(
                "set both input_cost_per_mtok and output_cost_per_mtok, or neither"
            )
        return self

    @model_validator(mode="after")
    def _label_defaults_to_model(self) -> ModelSpec:
        if not self.label:
            object.__setattr__(self, "label", self.model.split("/", 1)[1])
        return self

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    def api_key(self) -> str | None:
        """The key from `api_key_env`; a placeholder for a keyless local server.

        Raises ModelCallError when the named variable is not set.
        """
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ModelCallError(f"no API key: set {self.api_key_env}", kind="auth")
            return key
        return "no-key-needed" if self.api_base else None

    def has_key(self) -> bool:
        return not self.api_key_env or bool(os.environ.get(self.api_key_env))

    def window(self) -> int:
        """Input tokens the model takes: the file's value, else litellm's, else 8k."""
        if self.context_window:
            return self.context_window
        try:
            info = configured_litellm().get_model_info(model=self.model)
        except Exception:  # litellm raises a bare Exception for unknown models
            return DEFAULT_CONTEXT_WINDOW
        return info.get("max_input_tokens") or DEFAULT_CONTEXT_WINDOW

    def price(self) -> Price | None:
        """The configured price, else litellm's own, else None (cost unknown)."""
        if (
            self.input_cost_per_mtok is not None
            and self.output_cost_per_mtok is not None
        ):
            return Price(
                input_per_mtok=self.input_cost_per_mtok,
                output_per_mtok=self.output_cost_per_mtok,
            )
        return _litellm_price(self.model)


class Tiers(_Strict):
    single: list[str] = Field(min_length=1)
    dual: list[str] = Field(min_length=1)
    full: list[str] = Field(min_length=1)
    default: TierName = "full"


class SynthesisSpec(_Strict):
    model: str
    fallback: str | None = None


class ConsultLimits(_Strict):
    """The `[consult]` table: how long a consult may take, how hard it tries."""

    deadline_s: float = Field(default=150.0, gt=0, le=1800)
    synthesis_reserve_s: float = Field(default=30.0, ge=0)
    retries: int = Field(default=2, ge=0, le=5)

    @model_validator(mode="after")
    def _reserve_fits(self) -> ConsultLimits:
        if self.synthesis_reserve_s >= self.deadline_s:
            raise ValueError("consult.synthesis_reserve_s must be below deadline_s")
        return self

    @property
    def panel_deadline_s(self) -> float:
        """When the panel's answers must be in, counted from the consult's start."""
        return self.deadline_s - self.synthesis_reserve_s


class DebateSpec(_Strict):
    """`[debate]`: which model argues which stance. `for` and `against` are needed."""

    model_config = ConfigDict(populate_by_name=True)

    for_: str = Field(alias="for")
    against: str
    neutral: str | None = None

    def seats(self) -> list[tuple[Stance, str]]:
        """(stance, alias) in the order for, against, neutral."""
        seats: list[tuple[Stance, str | None]] = [
            ("for", self.for_),
            ("against", self.against),
            ("neutral", self.neutral),
        ]
        return [(stance, alias) for stance, alias in seats if alias is not None]


class EscalationSpec(_Strict):
    """`[escalation]`: the reaction that asks the full tier, without its colons."""

    reaction: str = Field(default="scales", pattern=r"^[a-z0-9_+'-]+$")

    @field_validator("reaction", mode="before")
    @classmethod
    def _without_colons(cls, value: object) -> object:
        return value.strip().strip(":") if isinstance(value, str) else value


class Panel(_Strict):
    """The whole panel file, checked: every alias a tier or synthesis names exists."""

    models: dict[str, ModelSpec] = Field(min_length=1)
    tiers: Tiers
    synthesis: SynthesisSpec
    consult: ConsultLimits = Field(default_factory=ConsultLimits)
    debate: DebateSpec | None = None  # None: the full tier, in order, when it has 2+
    escalation: EscalationSpec = EscalationSpec()
    budget: BudgetSpec = BudgetSpec()
    source: str = "built-in defaults"

    @model_validator(mode="after")
    def _aliases_exist(self) -> Panel:
        for tier in TIER_NAMES:
            for alias in getattr(self.tiers, tier):
                if alias not in self.models:
                    raise ValueError(
                        f"tier '{tier}' names model '{alias}', "
                        f"which has no [models.{alias}] table"
                    )
            if len(set(getattr(self.tiers, tier))) != len(getattr(self.tiers, tier)):
                raise ValueError(f"tier '{tier}' names the same model twice")
        roles = [
            ("synthesis.model", self.synthesis.model),
            ("synthesis.fallback", self.synthesis.fallback),
        ]
        if self.debate is not None:
            roles += [(f"debate.{s}", alias) for s, alias in self.debate.seats()]
        for role, alias in roles:
            if alias is not None and alias not in self.models:
                raise ValueError(
                    f"{role} names model '{alias}', which has no [models.{alias}] table"
                )
        if self.debate is not None:
            aliases = [alias for _, alias in self.debate.seats()]
            if len(set(aliases)) != len(aliases):
                raise ValueError("debate gives one model two stances")
        return self

    def tier(self, name: TierName) -> list[ModelSpec]:
        return [self.models[alias] for alias in getattr(self.tiers, name)]

    def stances(self) -> list[tuple[Stance, ModelSpec]]:
        """Who argues what in a debate; empty when the panel cannot hold one.

        Without a `[debate]` table the full tier's models take for, against
        and neutral in the order the tier lists them.
        """
        if self.debate is not None:
            return [(s, self.models[alias]) for s, alias in self.debate.seats()]
        full = self.tier("full")
        if len(full) < 2:
            return []
        return list(zip(STANCES, full, strict=False))

    @property
    def synthesis_models(self) -> list[ModelSpec]:
        aliases = [self.synthesis.model, self.synthesis.fallback]
        return [self.models[a] for a in aliases if a is not None]


def load_panel(path: Path | None) -> Panel:
    """Read the panel file at `path`, or the built-in defaults when it is absent."""
    if path is not None and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc
        return parse_panel(text, source=str(path))
    text = resources.files("bot").joinpath("default_panel.toml").read_text("utf-8")
    return parse_panel(text, source="built-in defaults")


def parse_panel(text: str, *, source: str) -> Panel:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    models = raw.get("models")
    if isinstance(models, dict):
        raw["models"] = {
            alias: {**table, "alias": alias} if isinstance(table, dict) else table
            for alias, table in models.items()
        }
    try:
        panel = Panel.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_problem(exc)}") from exc
    register_prices(panel)
    return panel


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors()
    # a misspelt key also shows as a missing one: name the misspelling
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}' (check the spelling against the README)"
    if error["type"] == "missing":
        return f"missing key '{where}'"
    return f"{where}: {message}" if where else message


def _litellm_price(model: str) -> Price | None:
    litellm = configured_litellm()
    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # litellm raises a bare Exception for unknown models
        return None
    per_in, per_out = (
        info.get("input_cost_per_token"),
        info.get("output_cost_per_token"),
    )
    if per_in is None or per_out is None:
        return None
    return Price(input_per_mtok=per_in * 1e6, output_per_mtok=per_out * 1e6)


def register_prices(panel: Panel) -> None:
    """Tell litellm the prices the panel file sets, so its own cost helpers agree."""
    litellm = configured_litellm()

    entries = {}
    for spec in panel.models.values():
        if spec.input_cost_per_mtok is None or spec.output_cost_per_mtok is None:
            continue
        entries[spec.model] = {
            "input_cost_per_token": spec.input_cost_per_mtok / 1e6,
            "output_cost_per_token": spec.output_cost_per_mtok / 1e6,
            "litellm_provider": spec.provider,
            "mode": "chat",
        }
    if entries:
        litellm.register_model(entries)
