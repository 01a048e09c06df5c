"""Turn the UCI Online Retail data set into ledger commands (NDJSON).

The data set has sales and cancellations but no stock receipts, so the replay
receives stock (in lots) just before a sale would need it. Mapping:

- one location, ``UK-WH``;
- each sales invoice: receipts where stock is short, ``place_order`` (the invoice
  number is the order id; a missing customer is ``guest``), ``ship_order`` a day
  later and ``deliver_shipment`` three days after the sale;
- negative lines on sales invoices (stock write-offs): ``adjust_stock`` (shrinkage);
- each cancellation invoice (``C...``): for every line, a ``request_return`` and
  ``receive_return`` (restock) against the same customer's latest earlier order
  that still has that SKU to return; lines with no such order are skipped;
- bad-debt adjustments (``A...``) are skipped; prices are rounded to pence
  (four rows carry 0.001).

Every line carries a deterministic ``idempotency_key`` (its line number and a hash of its
content), so an interrupted import can simply be run again: the lines already saved answer as
replays and change nothing.

Usage: ``python -m bench.online_retail OUT.ndjson[.gz] [--invoices N] [--dataset FILE]``.
The full data set is read from ``--dataset``, else ``OMS_RETAIL_DATASET``, else
``shared/datasets/online_retail.csv.gz`` beside the checkout or above it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

WHERE_TO_GET_IT = (
    "the UCI Online Retail data set (archive.ics.uci.edu, data set 352, CC BY 4.0) as a gzipped CSV; "
    "pass --dataset FILE or set OMS_RETAIL_DATASET"
)


class DatasetMissing(FileNotFoundError):
    """The full data set is not on this machine."""


def find_dataset() -> Path:
    """``OMS_RETAIL_DATASET``, else ``shared/datasets/`` beside this checkout or above it."""
    configured = os.environ.get("OMS_RETAIL_DATASET")
    if configured:
        if not Path(configured).is_file():
            raise DatasetMissing(f"OMS_RETAIL_DATASET={configured} is not a file; it should be {WHERE_TO_GET_IT}")
        return Path(configured)
    relative = Path("shared") / "datasets" / "online_retail.csv.gz"
    for folder in Path(__file__).resolve().parents:
        if (folder / relative).exists():
            return folder / relative
    raise DatasetMissing(f"{relative} is not beside or above this checkout; it needs {WHERE_TO_GET_IT}")


LOCATION = "UK-WH"
LOT = 500
LONDON = ZoneInfo("Europe/London")
PENNY = Decimal("0.01")


@dataclass
class Invoice:
    number: str
    at: datetime
    customer: str
    rows: list[tuple[str, int, Decimal]] = field(default_factory=list)


def read_invoices(path: Path | None = None, limit: int | None = None) -> list[Invoice]:
    """Invoices in the order they first appear (the file is in invoice-date order)."""
    invoices: dict[str, Invoice] = {}
    path = path or find_dataset()
    if not path.is_file():
        raise DatasetMissing(f"{path} is not a file; it should be {WHERE_TO_GET_IT}")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            number = row["InvoiceNo"]
            invoice = invoices.get(number)
            if invoice is None:
                if limit is not None and len(invoices) >= limit:
                    break
                at = datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=LONDON)
                customer = row["CustomerID"].split(".")[0] or "guest"
                invoice = invoices[number] = Invoice(number, at, customer)
            price = Decimal(row["UnitPrice"]).quantize(PENNY, rounding=ROUND_HALF_EVEN)
            invoice.rows.append((row["StockCode"].strip(), int(row["Quantity"]), price))
    return list(invoices.values())


class Replay:
    """Walks the invoices, keeping just enough state to emit valid commands."""

    def __init__(self) -> None:
        self.available: Counter[str] = Counter()
        self.returnable: dict[str, list[tuple[str, Counter[str]]]] = defaultdict(list)
        self.skipped: Counter[str] = Counter()

    def commands(self, invoices: list[Invoice]) -> Iterator[dict[str, Any]]:
        yield {
            "command": "register_location",
            "location_id": LOCATION,
            "name": "UK warehouse",
            "kind": "warehouse",
            "priority": 1,
            "occurred_at": _iso(invoices[0].at - timedelta(days=1)),
        }
        for invoice in invoices:
            if invoice.number.startswith("A"):
                self.skipped["bad_debt_invoice"] += 1
            elif invoice.number.startswith("C"):
                yield from self._cancellation(invoice)
            else:
                yield from self._sale(invoice)

    def _receive_for(self, sku: str, quantity: int, at: datetime) -> Iterator[dict[str, Any]]:
        short = quantity - self.available[sku]
        if short > 0:
            lot = max(short, LOT)
            self.available[sku] += lot
            yield {
                "command": "receive_stock",
                "sku": sku,
                "location_id": LOCATION,
                "quantity": lot,
                "reference": "replenishment",
                "occurred_at": _iso(at),
            }

    def _sale(self, invoice: Invoice) -> Iterator[dict[str, Any]]:
        lines: dict[str, list[Any]] = {}
        for sku, quantity, price in invoice.rows:
            if quantity > 0:
                line = lines.setdefault(sku, [0, price])
                line[0] += quantity
            elif quantity < 0:
                yield from self._receive_for(sku, -quantity, invoice.at)
                self.available[sku] += quantity
                yield {
                    "command": "adjust_stock",
                    "sku": sku,
                    "location_id": LOCATION,
                    "delta": quantity,
                    "reason": "shrinkage",
                    "occurred_at": _iso(invoice.at),
                }
        if not lines:
            return
        for sku, (quantity, _) in lines.items():
            yield from self._receive_for(sku, quantity, invoice.at)
            self.available[sku] -= quantity
        order_id = invoice.number
        yield {
            "command": "place_order",
            "order_id": order_id,
            "channel": "web",
            "customer_id": invoice.customer,
            "currency": "GBP",
            "occurred_at": _iso(invoice.at),
            "promised_ship_by": _iso(invoice.at + timedelta(days=2)),
            "promised_delivery_by": _iso(invoice.at + timedelta(days=5)),
            "lines": [{"sku": sku, "quantity": q, "unit_price": str(p)} for sku, (q, p) in lines.items()],
        }
        shipment_id = f"{order_id}-1"
        yield {
            "command": "ship_order",
            "order_id": order_id,
            "shipment_id": shipment_id,
            "carrier": "Royal Mail",
            "tracking_number": f"RM{order_id}GB",
            "occurred_at": _iso(invoice.at + timedelta(days=1)),
        }
        yield {
            "command": "deliver_shipment",
            "order_id": order_id,
            "shipment_id": shipment_id,
            "occurred_at": _iso(invoice.at + timedelta(days=3)),
        }
        if invoice.customer != "guest":
            self.returnable[invoice.customer].append((order_id, Counter({s: q for s, (q, _) in lines.items()})))

    def _cancellation(self, invoice: Invoice) -> Iterator[dict[str, Any]]:
        per_order: dict[str, Counter[str]] = defaultdict(Counter)
        for sku, quantity, _ in invoice.rows:
            wanted = -quantity
            for order_id, left in reversed(self.returnable.get(invoice.customer, [])):
                if wanted <= 0:
                    break
                take = min(left[sku], wanted)
                if take > 0:
                    left[sku] -= take
                    per_order[order_id][sku] += take
                    wanted -= take
            if wanted > 0:
                self.skipped["cancelled_units_without_an_order"] += wanted
        for order_id, skus in per_order.items():
            return_id = f"{invoice.number}-{order_id}"
            yield {
                "command": "request_return",
                "order_id": order_id,
                "return_id": return_id,
                "lines": [{"sku": s, "quantity": q, "reason": "cancelled"} for s, q in skus.items()],
                "occurred_at": _iso(invoice.at),
            }
            yield {
                "command": "receive_return",
                "order_id": order_id,
                "return_id": return_id,
                "location_id": LOCATION,
                "occurred_at": _iso(invoice.at + timedelta(days=2)),
                "lines": [{"sku": s, "quantity": q, "disposition": "restock"} for s, q in skus.items()],
            }
            for sku, quantity in skus.items():
                self.available[sku] += quantity


def _iso(at: datetime) -> str:
    return at.isoformat()


def write(commands: Iterator[dict[str, Any]], out: IO[str]) -> Counter[str]:
    """One line per command, each with a deterministic idempotency key: the same input gives the
    same keys, so importing the output again (after a crash, say) replays instead of adding."""
    counts: Counter[str] = Counter()
    for number, command in enumerate(commands, start=1):
        counts[command["command"]] += 1
        body = json.dumps(command, separators=(",", ":"), sort_keys=True)
        command["idempotency_key"] = f"retail-{number}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"
        out.write(json.dumps(command, separators=(",", ":")) + "\n")
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--invoices", type=int, default=None, help="only the first N invoices")
    parser.add_argument("--dataset", type=Path, default=None, help="default: shared/datasets/ beside the checkout")
    args = parser.parse_args(argv)
    try:
        invoices = read_invoices(args.dataset, args.invoices)
    except DatasetMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        raise SystemExit(2) from None
    replay = Replay()
    opener = gzip.open if args.out.suffix == ".gz" else open
    with opener(args.out, "wt", encoding="utf-8") as out:
        counts = write(replay.commands(invoices), out)
    print(f"{len(invoices)} invoices -> {sum(counts.values())} commands: {dict(counts)}", file=sys.stderr)
    print(f"skipped: {dict(replay.skipped)}", file=sys.stderr)


if __name__ == "__main__":
    main()
