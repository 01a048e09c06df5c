"""Fulfillment KPIs from the daily cohort rows: sums and counts combine, rates divide last."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from psycopg import Connection, sql
from psycopg.rows import dict_row

from commands.eventstore.names import read_table
from domain.pricing import ratio, round_money
from projections.kpis import BY_CURRENCY, COUNTERS, DELIVERY_DAYS_BOUNDS, HISTOGRAMS, SHIP_HOURS_BOUNDS
from queries.filters import Where
from queries.models import KpiAnswer, KpiRow

Granularity = Literal["day", "week", "month", "total"]
GroupBy = Literal["channel", "location_id"]
DAILY = read_table("fulfillment_daily")
GMV = read_table("fulfillment_gmv")


def period_start(day: date, granularity: Granularity) -> date | None:
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return None


def percentile(histogram: Sequence[int], bounds: Sequence[float], q: float) -> float | None:
    """The q-quantile, interpolated linearly inside its bucket (the open last bucket gives its lower bound)."""
    count = sum(histogram)
    if count == 0:
        return None
    rank = q * count
    seen = 0
    for i, in_bucket in enumerate(histogram):
        if in_bucket and seen + in_bucket >= rank:
            low = bounds[i - 1] if i > 0 else 0.0
            if i >= len(bounds):
                return float(low)
            return float(low + (bounds[i] - low) * (rank - seen) / in_bucket)
        seen += in_bucket
    return float(bounds[-1])


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def fulfillment(
    conn: Connection[Any],
    *,
    start: date | None = None,
    end: date | None = None,
    granularity: Granularity = "day",
    channel: str | None = None,
    location_id: str | None = None,
    group_by: Sequence[GroupBy] = (),
) -> KpiAnswer:
    """KPI rows for placement days ``start`` to ``end`` (both included)."""
    where = Where().equals(channel=channel, location_id=location_id)
    if start is not None:
        where.add(sql.SQL("day >= %s"), start)
    if end is not None:
        where.add(sql.SQL("day <= %s"), end)
    condition, params = where.sql(), where.params
    with conn.cursor(row_factory=dict_row) as cur:
        days = cur.execute(sql.SQL("SELECT * FROM {} WHERE {}").format(DAILY, condition), params).fetchall()
        gmv = cur.execute(sql.SQL("SELECT * FROM {} WHERE {}").format(GMV, condition), params).fetchall()
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}

    def group(row: dict[str, Any]) -> dict[str, Any]:
        key = (period_start(row["day"], granularity), *(row[g] for g in group_by))
        if key not in groups:
            groups[key] = {
                **dict.fromkeys(COUNTERS, 0),
                **{h: [0] * n for h, n in HISTOGRAMS.items()},
                **{name: {} for name in BY_CURRENCY},
            }
        return groups[key]

    for row in days:
        into = group(row)
        for name in COUNTERS:
            into[name] += row[name]
        for name in HISTOGRAMS:
            into[name] = [a + b for a, b in zip(into[name], row[name], strict=True)]
    for row in gmv:
        into = group(row)
        for name in BY_CURRENCY:
            into[name][row["currency"]] = into[name].get(row["currency"], Decimal(0)) + row[name]
    rows = []
    for key in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        totals = groups[key]
        labels = dict(zip(group_by, key[1:], strict=True))
        rows.append(_kpi_row(key[0], labels, totals))
    return KpiAnswer(rows=rows)


def _kpi_row(start: date | None, labels: dict[str, Any], t: dict[str, Any]) -> KpiRow:
    shipped, delivered = t["orders_shipped"], t["orders_delivered"]
    return KpiRow(
        period_start=start,
        **labels,
        orders_placed=t["orders_placed"],
        units_ordered=t["units_ordered"],
        gmv=t["gmv"],
        net_revenue=t["net_revenue"],
        average_order_value={
            currency: round_money(ratio(revenue, 1, t["orders_kept"][currency]), currency)
            for currency, revenue in t["net_revenue"].items()
            if t["orders_kept"].get(currency)
        },
        orders_backordered=t["orders_backordered"],
        fill_rate=_rate(t["units_committed_at_placement"], t["units_ordered"]),
        orders_shipped=shipped,
        ship_hours_mean=t["ship_seconds_sum"] / shipped / 3600 if shipped else None,
        ship_hours_p50=percentile(t["ship_hours_hist"], SHIP_HOURS_BOUNDS, 0.5),
        ship_hours_p90=percentile(t["ship_hours_hist"], SHIP_HOURS_BOUNDS, 0.9),
        orders_delivered=delivered,
        delivery_days_mean=t["delivery_seconds_sum"] / delivered / 86400 if delivered else None,
        delivery_days_p50=percentile(t["delivery_days_hist"], DELIVERY_DAYS_BOUNDS, 0.5),
        delivery_days_p90=percentile(t["delivery_days_hist"], DELIVERY_DAYS_BOUNDS, 0.9),
        shipped_on_time_rate=_rate(t["shipped_on_time"], t["shipped_with_promise"]),
        delivered_on_time_rate=_rate(t["delivered_on_time"], t["delivered_with_promise"]),
        orders_cancelled=t["orders_cancelled"],
        cancellation_rate=_rate(t["orders_cancelled"], t["orders_placed"]),
        units_shipped=t["units_shipped"],
        units_returned=t["units_returned"],
        return_rate=_rate(t["units_returned"], t["units_shipped"]),
        perfect_order_rate=_rate(t["perfect_orders"], delivered),
        orders_held=t["orders_held"],
        hold_hours_total=t["hold_seconds_sum"] / 3600,
        hold_hours_mean=t["hold_seconds_sum"] / t["holds_released"] / 3600 if t["holds_released"] else None,
    )
