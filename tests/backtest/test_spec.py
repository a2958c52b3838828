"""StrategySpec field validation, defaults, JSON and JSON schema."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from backtest.spec import PercentileFilter, RangeFilter, StrategySpec, statutory_sell_tax
from backtest.sweep import SweepSpec


def document(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "start": "2021-01-04",
        "end": "2021-12-30",
        "ranking": [{"factor": "PER", "ascending": True}],
        "top_n": 20,
    }
    base.update(fields)
    return base


def error_locations(**fields: Any) -> list[tuple]:
    with pytest.raises(ValidationError) as caught:
        StrategySpec.model_validate(document(**fields))
    return [error["loc"] for error in caught.value.errors()]


def test_defaults():
    spec = StrategySpec.model_validate(document())
    assert spec.universe.markets == "both"
    assert spec.weighting == "equal"
    assert spec.costs.commission_bps == 1.5 and spec.costs.slippage_bps == 0
    assert spec.initial_capital == 100_000_000
    assert spec.benchmark == "KOSPI"
    assert spec.delisting_return == 0 and spec.risk_free_rate == 0
    assert spec.max_weight is None and spec.stop_loss is None and spec.take_profit is None
    kospi = [(t.effective, t.bps) for t in spec.costs.sell_tax if t.market == "KOSPI"]
    assert kospi == [  # first trade dates settling (T+2) on or after each effective date
        (date(1996, 6, 27), 30),
        (date(2019, 5, 30), 25),
        (date(2020, 12, 29), 23),
        (date(2022, 12, 28), 20),
        (date(2023, 12, 27), 18),
        (date(2024, 12, 27), 15),
        (date(2025, 12, 29), 20),
    ]
    assert len(statutory_sell_tax()) == 14


def test_end_before_start_names_end():
    locations = error_locations(start="2022-01-01", end="2021-01-01")
    assert locations == [("end",)]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"top_n": 0}, ("top_n",)),
        ({"top_n": 100_000}, ("top_n",)),
        ({"ranking": []}, ("ranking",)),
        ({"ranking": [{"factor": "PER", "weight": 0}]}, ("ranking", 0, "weight")),
        ({"rebalance": 0}, ("rebalance",)),
        ({"rebalance": "yearly"}, ("rebalance",)),
        ({"rebalance": True}, ("rebalance",)),
        ({"weighting": "cap"}, ("weighting",)),
        ({"initial_capital": 0}, ("initial_capital",)),
        ({"max_weight": 1.5}, ("max_weight",)),
        ({"stop_loss": 1.0}, ("stop_loss",)),
        ({"delisting_return": 1.5}, ("delisting_return",)),
        ({"benchmark": "NASDAQ"}, ("benchmark",)),
        ({"universe": {"markets": "NYSE"}}, ("universe", "markets")),
        ({"universe": {"min_market_cap": -1}}, ("universe", "min_market_cap")),
        ({"costs": {"commission_bps": -1}}, ("costs", "commission_bps")),
        ({"costs": {"slippage_bps": 5000}}, ("costs", "slippage_bps")),
        (
            {"costs": {"sell_tax": [{"effective": "2020-01-01", "market": "KOSPI", "bps": -5}]}},
            ("costs", "sell_tax", 0, "bps"),
        ),
        ({"surprise": 1}, ("surprise",)),
    ],
)
def test_field_errors_name_the_field(fields, location):
    locations = error_locations(**fields)
    assert locations
    assert all(loc[: len(location)] == location for loc in locations)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_are_rejected(bad):
    assert ("initial_capital",) in error_locations(initial_capital=bad)
    assert ("costs", "commission_bps") in error_locations(costs={"commission_bps": bad})
    filters = [{"factor": "PER", "min": bad}]
    assert ("filters", 0, "range", "min") in error_locations(filters=filters)


def test_inverted_range_names_max():
    with pytest.raises(ValidationError) as caught:
        StrategySpec.model_validate(document(filters=[{"factor": "PER", "min": 10, "max": 5}]))
    (error,) = caught.value.errors()
    assert error["loc"] == ("filters", 0, "range", "max")
    assert "below min" in error["msg"]


@pytest.mark.parametrize(
    "item",
    [
        {"factor": "ROE", "top_pct": 10, "bottom_pct": 10},
        {"factor": "ROE", "top_pct": 0},
        {"factor": "ROE", "bottom_pct": 101},
        {"factor": "ROE"},
        {"factor": "ROE", "top_pct": 10, "min": 1},
    ],
)
def test_bad_filters(item):
    assert any(loc[:2] == ("filters", 0) for loc in error_locations(filters=[item]))


def test_filters_are_told_apart_by_their_fields():
    spec = StrategySpec.model_validate(
        document(filters=[{"factor": "PER", "max": 15}, {"factor": "ROE", "top_pct": 30}])
    )
    assert isinstance(spec.filters[0], RangeFilter)
    assert isinstance(spec.filters[1], PercentileFilter)


def test_duplicate_tax_entries_are_refused():
    entry = {"effective": "2020-01-01", "market": "KOSPI", "bps": 5}
    assert ("costs", "sell_tax") in error_locations(costs={"sell_tax": [entry, entry]})


def test_spec_is_frozen_and_round_trips_through_json():
    spec = StrategySpec.model_validate(
        document(
            filters=[{"factor": "PER", "min": 0, "max": 15}, {"factor": "ROE", "top_pct": 30}],
            rebalance=5,
            max_weight=0.1,
        )
    )
    with pytest.raises(ValidationError):
        spec.top_n = 3  # type: ignore[misc]
    again = StrategySpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert json.loads(spec.model_dump_json())["rebalance"] == 5


def test_every_field_has_a_description_in_the_json_schema():
    schema = StrategySpec.model_json_schema()
    json.dumps(schema)
    models = [schema, *schema.get("$defs", {}).values()]
    missing = [
        name
        for model in models
        for name, field in model.get("properties", {}).items()
        if "description" not in field
    ]
    assert missing == []


def test_every_model_field_declares_a_description():
    def walk(model: type[BaseModel]) -> list[str]:
        return [
            f"{model.__name__}.{name}"
            for name, info in model.model_fields.items()
            if not info.description
        ]

    from backtest import spec as module

    models = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, BaseModel)]
    assert [name for model in models for name in walk(model)] == []


def test_every_example_file_is_a_valid_spec_or_sweep():
    folder = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(folder.glob("*.json"))
    assert {f.name for f in files} >= {"value_momentum.json", "sweep.json", "krx_rules.json"}
    for path in files:
        document = json.loads(path.read_text())
        model = SweepSpec if "grid" in document else StrategySpec
        model.model_validate(document)


def test_the_krx_rule_fields_default_and_refuse_bad_values_naming_the_field():
    spec = StrategySpec.model_validate(document())
    assert spec.limit_lock is True and spec.hold_buffer == 0 and spec.timing is None
    assert spec.universe.exclude == [] and spec.universe.preset is None
    assert error_locations(universe={"exclude": ["penny"]}) == [("universe", "exclude", 0)]
    assert error_locations(universe={"preset": "strict"}) == [("universe", "preset")]
    assert error_locations(hold_buffer=-1) == [("hold_buffer",)]
    assert error_locations(timing={"index": "KOSPI"}) == [("timing",)]
    assert error_locations(timing={}) == [("timing",)]
    assert error_locations(timing={"months": [0]}) == [("timing", "months", 0)]
    assert error_locations(timing={"index": "NIKKEI", "ma_days": 20}) == [("timing", "index")]
    assert ("rebalance", "MonthsSchedule", "day") in error_locations(
        rebalance={"months": [4], "day": 0}
    )


def test_loss_making_reads_earnings_yield():
    spec = StrategySpec.model_validate(document(universe={"exclude": ["loss_making"]}))
    assert spec.factors_used()["EARNINGS_YIELD"] == "universe.exclude"
