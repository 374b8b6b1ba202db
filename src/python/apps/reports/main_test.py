import io

import pandas as pd
import pytest

from apps.reports.main import main, summarize

ORDERS = pd.DataFrame(
    {"region": ["eu", "us", "eu", "us"], "quantity": [1, 10, 3, 2], "unit_price": [10.0, 1.0, 10.0, 1.0]}
)


def test_summarize_groups_and_sorts_by_revenue() -> None:
    summary = summarize(ORDERS, "region")
    assert list(summary.index) == ["eu", "us"]
    assert summary.loc["eu", "revenue"] == 40.0
    assert summary.loc["us", "orders"] == 2


def test_unknown_column_names_the_columns() -> None:
    with pytest.raises(ValueError, match="column 'city' not in the CSV"):
        summarize(ORDERS, "city")


def test_main_prints_table(tmp_path) -> None:
    csv = tmp_path / "orders.csv"
    ORDERS.to_csv(csv, index=False)
    out = io.StringIO()
    assert main([str(csv)], stdout=out) == 0
    assert out.getvalue().splitlines()[2].split() == ["eu", "2", "40.00", "2.80"]
