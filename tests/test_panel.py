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


DEBATE = (
    GOOD
    + """
[debate]
for = "slow"
against = "fast"
"""
)


def test_the_debate_table_gives_each_model_its_stance():
    panel = parse_panel(DEBATE, source="quorum.toml")

    assert [(s, spec.alias) for s, spec in panel.stances()] == [
        ("for", "slow"),
        ("against", "fast"),
    ]


def test_without_a_debate_table_the_full_tier_takes_the_stances_in_order():
    panel = parse_panel(GOOD, source="quorum.toml")

    assert [(s, spec.alias) for s, spec in panel.stances()] == [
        ("for", "fast"),
        ("against", "slow"),
    ]


def test_a_full_tier_of_one_cannot_debate():
    text = GOOD.replace('full = ["fast", "slow"]', 'full = ["fast"]')

    assert parse_panel(text, source="quorum.toml").stances() == []


@pytest.mark.parametrize(
    ("table", "value"),
    [
        ("", "scales"),
        ('[escalation]\nreaction = "arrow_double_up"', "arrow_double_up"),
        ('[escalation]\nreaction = ":rotating_light:"', "rotating_light"),
    ],
)
def test_the_escalation_reaction_is_a_setting(table, value):
    panel = parse_panel(GOOD + table, source="quorum.toml")

    assert panel.escalation.reaction == value


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[debate]\nfor = "fast"\nagainst = "ghost"',
            "quorum.toml: debate.against names model 'ghost', "
            "which has no [models.ghost] table",
        ),
        (
            '[debate]\nfor = "fast"\nagainst = "slow"\nneutral = "fast"',
            "quorum.toml: debate gives one model two stances",
        ),
        ('[debate]\nfor = "fast"', "quorum.toml: missing key 'debate.against'"),
        (
            '[debate]\nfor = "fast"\nagainst = "slow"\npro = "fast"',
            "quorum.toml: unknown key 'debate.pro'",
        ),
        (
            '[escalation]\nreaction = "two words"',
            "quorum.toml: escalation.reaction: String should match pattern",
        ),
        (
            '[escalation]\nemoji = "scales"',
            "quorum.toml: unknown key 'escalation.emoji'",
        ),
    ],
)
def test_a_bad_debate_or_escalation_table_stops_with_one_line(table, message):
    with pytest.raises(ConfigError) as caught:
        parse_panel(GOOD + table, source="quorum.toml")

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["default_panel.toml", "sandbox/demo_panel.toml"])
def test_the_shipped_panels_name_a_stance_for_every_full_tier_model(name):
    text = (Path(__file__).parent.parent / "bot" / name).read_text()

    panel = parse_panel(text, source=name)

    assert [s for s, _ in panel.stances()] == ["for", "against", "neutral"]
    assert {spec.alias for _, spec in panel.stances()} == set(panel.tiers.full)
