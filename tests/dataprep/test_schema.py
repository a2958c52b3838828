"""Migrations: applied once, idempotent, and the constraints the data model promises."""

from __future__ import annotations

import psycopg
import pytest

from dataprep.schema import available_migrations, migrate


def test_migrate_applies_every_migration_once_then_is_a_no_op(empty_database_url):
    applied = migrate(empty_database_url)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert migrate(empty_database_url) == []
    with psycopg.connect(empty_database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
    assert sorted(versions) == [m.version for m in available_migrations()]
    assert {"stocks", "stock_prices", "financials", "index_prices", "runs", "sweeps",
            "api_keys"} <= tables


STOCK = "INSERT INTO stocks VALUES ('005930', 'Samsung', 'KOSPI', 'Tech', '2020-01-02', NULL)"
PRICE = ("INSERT INTO stock_prices VALUES ('005930', '2021-01-04', %s, %s, %s, %s, %s, %s, %s)")


@pytest.mark.parametrize(
    ("statement", "params", "constraint"),
    [
        ("INSERT INTO stocks VALUES ('1', 'X', 'NYSE', 'Tech', '2020-01-02', NULL)", None,
         "stocks_market_check"),
        (PRICE, (100, 90, 95, 95, 10, 950, 5), "stock_prices_check"),  # high < low
        (PRICE, (100, 110, 90, 0, 10, 950, 5), ("stock_prices_close_check", "stock_prices_check1")),
        (PRICE, (100, 110, 90, 100, -1, 950, 5), "stock_prices_volume_check"),
        ("INSERT INTO stock_prices VALUES ('999999', '2021-01-04', 1, 1, 1, 1, 1, 1, 1)", None,
         "stock_prices_code_fkey"),
        ("INSERT INTO financials (code, period_end, fiscal_quarter, disclosed_on) "
         "VALUES ('005930', '2021-03-31', 1, '2021-03-30')", None, "financials_check"),
        ("INSERT INTO index_prices VALUES ('NASDAQ', '2021-01-04', 100)", None,
         "index_prices_index_code_check"),
    ],
)
def test_constraints_refuse_bad_rows(database_url, statement, params, constraint):
    with psycopg.connect(database_url) as conn:
        conn.execute(STOCK)
        with pytest.raises(psycopg.errors.IntegrityError) as caught:
            conn.execute(statement, params)
    expected = constraint if isinstance(constraint, tuple) else (constraint,)
    assert caught.value.diag.constraint_name in expected


def test_statement_items_are_the_flow_and_balance_items_of_the_catalog():
    from dataprep.factors.inputs import BALANCE_ITEMS, FLOW_ITEMS
    from dataprep.tables import STATEMENT_ITEMS

    assert sorted(FLOW_ITEMS + BALANCE_ITEMS) == sorted(STATEMENT_ITEMS)
    assert not set(FLOW_ITEMS) & set(BALANCE_ITEMS)
