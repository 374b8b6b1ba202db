"""`reports`: a batch job that summarises an orders CSV with pandas (the heavy-dependency app)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence, TextIO

import numpy as np
import pandas as pd


def summarize(orders: pd.DataFrame, by: str) -> pd.DataFrame:
    if by not in orders.columns:
        raise ValueError(f"column {by!r} not in the CSV; columns are {', '.join(orders.columns)}")
    orders = orders.assign(revenue=orders["quantity"] * orders["unit_price"])
    summary = orders.groupby(by, sort=True).agg(
        orders=("revenue", "size"), revenue=("revenue", "sum"), p90_quantity=("quantity", lambda q: np.percentile(q, 90))
    )
    return summary.sort_values("revenue", ascending=False)


def main(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="reports", description="Summarise an orders CSV.")
    parser.add_argument("csv", help="CSV with at least quantity and unit_price columns")
    parser.add_argument("--by", default="region", help="column to group by (default: region)")
    args = parser.parse_args(argv)
    try:
        summary = summarize(pd.read_csv(args.csv), args.by)
    except (OSError, ValueError, KeyError) as e:
        print(f"reports: error: {e}", file=sys.stderr)
        return 1
    stdout.write(summary.to_string(float_format=lambda v: f"{v:.2f}") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
