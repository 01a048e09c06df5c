"""Fulfillment KPIs: per placement day (UTC), channel and location, as sums and counts.

Every order contributes to the row of its cohort (the day it was placed, its channel
and its primary location). When an order changes, its old contribution is taken off
and its new one added, so late events (a return that spoils a perfect order) land in
the right cohort. Durations are kept as whole seconds, so sums are exact and means
combine across days; histograms give percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Transcoder
from psycopg import Cursor, sql

from domain.orders import DELIVERED_STATUSES, Order, OrderStatus
from projections import order_state
from projections.base import Tables
from projections.events import Recorded

# Upper bounds of the histogram buckets; a last, open bucket holds the rest.
SHIP_HOURS_BOUNDS = (1, 2, 4, 8, 12, 24, 36, 48, 72, 96, 120, 168, 240, 336)
DELIVERY_DAYS_BOUNDS = (1, 2, 3, 4, 5, 6, 7, 10, 14, 21, 30)

COUNTERS = (
    "orders_placed",
    "units_ordered",
    "orders_backordered",
    "units_committed_at_placement",
    "orders_shipped",
    "ship_seconds_sum",
    "shipped_with_promise",
    "shipped_on_time",
    "orders_delivered",
    "delivery_seconds_sum",
    "delivered_with_promise",
    "delivered_on_time",
    "orders_cancelled",
    "units_shipped",
    "units_returned",
    "perfect_orders",
    "orders_held",
    "holds_released",
    "hold_seconds_sum",
)
HISTOGRAMS = {"ship_hours_hist": len(SHIP_HOURS_BOUNDS) + 1, "delivery_days_hist": len(DELIVERY_DAYS_BOUNDS) + 1}
KEY = ("day", "channel", "location_id")
# Money per currency, in the fulfillment_gmv table: GMV (every unit ordered at its price), net
# revenue (net sales: after discounts, cancellations and returns, without tax and shipping) and
# the orders not cancelled, which average order value divides by.
BY_CURRENCY = ("gmv", "net_revenue", "orders_kept")


def bucket(value: float, bounds: Sequence[float]) -> int:
    return next((i for i, bound in enumerate(bounds) if value < bound), len(bounds))


def contribution(order: Order, extra: dict[str, Any]) -> dict[str, Any]:
    """What one order adds to its cohort's row, from its current state."""
    c: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    c["ship_hours_hist"] = [0] * HISTOGRAMS["ship_hours_hist"]
    c["delivery_days_hist"] = [0] * HISTOGRAMS["delivery_days_hist"]
    c["orders_placed"] = 1
    c["units_ordered"] = order.total_of("quantity")
    c["units_committed_at_placement"] = extra["committed_at_placement"]
    c["orders_backordered"] = int(extra["backordered_at_placement"] > 0)
    c["units_shipped"] = order.total_of("shipped")
    c["units_returned"] = order.total_of("returned")
    status = order.status
    c["orders_cancelled"] = int(status is OrderStatus.CANCELLED)
    shipped_at = min((s.shipped_at for s in order.shipments.values()), default=None)
    if shipped_at is not None:
        seconds = _seconds(order.placed_at, shipped_at)
        c["orders_shipped"] = 1
        c["ship_seconds_sum"] = seconds
        c["ship_hours_hist"][bucket(seconds / 3600, SHIP_HOURS_BOUNDS)] = 1
        if order.promised_ship_by is not None:
            c["shipped_with_promise"] = 1
            c["shipped_on_time"] = int(shipped_at <= order.promised_ship_by)
    delivered_at = extra.get("delivered_at") if status in DELIVERED_STATUSES else None
    on_time = True
    if delivered_at is not None:
        seconds = _seconds(order.placed_at, delivered_at)
        c["orders_delivered"] = 1
        c["delivery_seconds_sum"] = seconds
        c["delivery_days_hist"][bucket(seconds / 86400, DELIVERY_DAYS_BOUNDS)] = 1
        if order.promised_delivery_by is not None:
            on_time = delivered_at <= order.promised_delivery_by
            c["delivered_with_promise"] = 1
            c["delivered_on_time"] = int(on_time)
        c["perfect_orders"] = int(
            on_time and order.total_of("cancelled") == 0 and order.total_of("return_requested") == 0
        )
    c["orders_held"] = int(bool(order.holds))
    released = [h for h in order.holds.values() if h.released_at is not None]
    c["holds_released"] = len(released)
    c["hold_seconds_sum"] = sum(_seconds(h.placed_at, h.released_at) for h in released if h.released_at)
    c["gmv"] = {order.currency: order.ordered_total}
    c["net_revenue"] = {order.currency: order.money.net_sales}
    c["orders_kept"] = {order.currency: Decimal(int(status is not OrderStatus.CANCELLED))}
    return c


def _seconds(start: datetime, end: datetime) -> int:
    # Business times may disagree with lifecycle order (late scans): never negative.
    return max(0, int((end - start).total_seconds()))


class FulfillmentProjection:
    name = "kpis"
    tables: tuple[str, ...] = ("fulfillment_daily", "fulfillment_gmv", "kpi_orders")

    def __init__(self, transcoder: Transcoder) -> None:
        self.transcoder = transcoder

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        counters = sql.SQL(", ").join(
            sql.SQL("{} bigint NOT NULL DEFAULT 0").format(sql.Identifier(c)) for c in COUNTERS
        )
        hists = sql.SQL(", ").join(sql.SQL("{} bigint[] NOT NULL").format(sql.Identifier(h)) for h in HISTOGRAMS)
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, channel text NOT NULL, location_id text NOT NULL,"
                " {}, {}, PRIMARY KEY (day, channel, location_id))"
            ).format(t["fulfillment_daily"], counters, hists)
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, channel text NOT NULL, location_id text NOT NULL,"
                " currency text NOT NULL, gmv numeric NOT NULL, net_revenue numeric NOT NULL DEFAULT 0,"
                " orders_kept bigint NOT NULL DEFAULT 0, PRIMARY KEY (day, channel, location_id, currency))"
            ).format(t["fulfillment_gmv"])
        )
        order_state.create_table(cur, t["kpi_orders"])

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        events = [r for r in batch if r.kind.startswith("Order.")]
        if not events:
            return
        known = order_state.load(cur, t["kpi_orders"], list({r.stream_id for r in events}), self.transcoder)
        before = {i: extra.get("contribution") for i, (_, extra) in known.items()}
        changed = order_state.fold(events, known, _facts)
        deltas: dict[tuple[Any, ...], dict[str, Any]] = {}
        for stream_id, (order, extra) in changed.items():
            after = contribution(order, extra)
            extra["contribution"] = after
            key = (order.placed_at.astimezone(UTC).date(), order.channel, extra["location_id"] or "")
            delta = deltas.setdefault(key, _zero())
            _add(delta, after, 1)
            previous = before.get(stream_id)
            if previous is not None:
                _add(delta, previous, -1)
        order_state.save(cur, t["kpi_orders"], changed, self.transcoder)
        self._write(cur, t, deltas)

    def _write(self, cur: Cursor[Any], t: Tables, deltas: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        columns = [*KEY, *COUNTERS, *HISTOGRAMS]
        rows = {
            (r["day"], r["channel"], r["location_id"]): r
            for r in cur.execute(
                sql.SQL(
                    "SELECT * FROM {} WHERE (day, channel, location_id) IN (SELECT * FROM unnest(%s::date[],"
                    " %s::text[], %s::text[]))"
                ).format(t["fulfillment_daily"]),
                [list(k) for k in zip(*deltas, strict=True)],
            ).fetchall()
        }
        out = []
        for key, delta in deltas.items():
            row = rows.get(key) or {**dict(zip(KEY, key, strict=True)), **_zero()}
            _add(row, delta, 1)
            out.append({c: row[c] for c in columns})
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (day, channel, location_id) DO UPDATE SET {}").format(
                t["fulfillment_daily"],
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
                sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns[3:]),
            ),
            out,
        )
        money = [
            (*key, currency, *(delta[name].get(currency, 0) for name in BY_CURRENCY))
            for key, delta in deltas.items()
            for currency in sorted(set().union(*(delta[name] for name in BY_CURRENCY)))
            if any(delta[name].get(currency) for name in BY_CURRENCY)
        ]
        table = t["fulfillment_gmv"]
        cur.executemany(
            sql.SQL(
                "INSERT INTO {} (day, channel, location_id, currency, gmv, net_revenue, orders_kept)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (day, channel, location_id, currency)"
                " DO UPDATE SET gmv = {}.gmv + EXCLUDED.gmv, net_revenue = {}.net_revenue + EXCLUDED.net_revenue,"
                " orders_kept = {}.orders_kept + EXCLUDED.orders_kept"
            ).format(table, table, table, table),
            money,
        )


def _facts(order: Order, extra: dict[str, Any], recorded: Recorded) -> None:
    event = recorded.event
    if isinstance(event, Order.Placed):
        extra["committed_at_placement"] = sum(a.committed for li in event.lines for a in li.allocations)
        extra["backordered_at_placement"] = sum(a.backordered for li in event.lines for a in li.allocations)
    if order.status in DELIVERED_STATUSES and extra.get("delivered_at") is None:
        extra["delivered_at"] = event.occurred_at


def _zero() -> dict[str, Any]:
    zero: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    for name, size in HISTOGRAMS.items():
        zero[name] = [0] * size
    for name in BY_CURRENCY:
        zero[name] = {}
    return zero


def _add(into: dict[str, Any], other: dict[str, Any], sign: int) -> None:
    for name in COUNTERS:
        into[name] += sign * other[name]
    for name in HISTOGRAMS:
        into[name] = [a + sign * b for a, b in zip(into[name], other[name], strict=True)]
    for name in BY_CURRENCY:
        if name in into and name in other:
            for currency, amount in other[name].items():
                into[name][currency] = into[name].get(currency, Decimal(0)) + sign * amount
