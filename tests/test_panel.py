from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.panel import load_panel, parse_panel

GOOD = """
[models.fast]
model = "openai/quorum-swift"
label = "Swift"
api_base = "http://127.0.0.1:9/v1"
input_cost_per_mtok = 0.5
output_cost_per_mtok = 1.5

[models.slow]
model = "anthropic/claude-sonnet-4-5"

[tiers]
single = ["fast"]
dual = ["fast", "slow"]
full = ["fast", "slow"]
default = "dual"

[synthesis]
model = "slow"
fallback = "fast"
"""


def test_a_good_panel_file_loads():
    panel = parse_panel(GOOD, source="quorum.toml")

    assert [spec.label for spec in panel.tier("dual")] == ["Swift", "claude-sonnet-4-5"]
    assert panel.tiers.default == "dual"
    assert [spec.alias for spec in panel.synthesis_models] == ["slow", "fast"]


def test_prices_from_the_file_and_from_litellm():
    panel = parse_panel(GOOD, source="quorum.toml")

    assert panel.models["fast"].price().cost_micros(1000, 2000) == 3500
    # litellm's own price map knows Claude Sonnet 4.5: $3 in, $15 out per Mtok
    assert panel.models["slow"].price().cost_micros(1_000_000, 0) == 3_000_000


def test_a_model_with_no_known_price_has_an_unknown_cost():
    text = GOOD.replace('model = "anthropic/claude-sonnet-4-5"', 'model = "openai/x9"')

    assert parse_panel(text, source="quorum.toml").models["slow"].price() is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('full = ["fast", "slow"]', 'full = ["fast", "slow", "ghost"]'),
            "quorum.toml: tier 'full' names model 'ghost', "
            "which has no [models.ghost] table",
        ),
        (
            ('model = "slow"\nfallback', 'model = "judge"\nfallback'),
            "quorum.toml: synthesis.model names model 'judge', "
            "which has no [models.judge] table",
        ),
        (
            ('label = "Swift"', 'lable = "Swift"'),
            "quorum.toml: unknown key 'models.fast.lable' "
            "(check the spelling against the README)",
        ),
        (
            ('default = "dual"', 'default = "huge"'),
            "quorum.toml: tiers.default: Input should be 'single', 'dual' or 'full'",
        ),
        (
            ('model = "openai/quorum-swift"', 'model = "quorum-swift"'),
            "quorum.toml: models.fast.model: String should match pattern",
        ),
        (("[tiers]", "[tiers"), "quorum.toml: not valid TOML:"),
        (('[synthesis]\nmodel = "slow"', "[synthesis]"), "quorum.toml: missing key"),
    ],
)
def test_a_bad_panel_file_stops_with_one_line(edit, message):
    old, new = edit
    assert old in GOOD

    with pytest.raises(ConfigError) as caught:
        parse_panel(GOOD.replace(old, new), source="quorum.toml")

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_without_a_file_the_built_in_panel_is_used(tmp_path: Path):
    panel = load_panel(tmp_path / "quorum.toml")

    assert panel.source == "built-in defaults"
    assert len(panel.tier("full")) == 3
