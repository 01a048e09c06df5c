"""Field types shared by every request."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from commands.messages import Command
from domain.money import CURRENCIES

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
# SKUs from real catalogues carry spaces ("BANK CHARGES"); never at either end, never "/".
_SKU_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 ._:-]*[A-Za-z0-9._:-])?$"

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=_ID_PATTERN),
    Field(
        description="Letters, digits and . _ : - ; starts with a letter or digit; at most 64.", examples=["ORD-1001"]
    ),
]
Sku = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=_SKU_PATTERN),
    Field(description="Letters, digits, inner spaces and . _ : - ; at most 64.", examples=["85123A"]),
]
# Idempotency keys and causation ids: 1 to 255 visible ASCII characters, in headers and in import lines.
VISIBLE_ASCII_PATTERN = r"^[\x21-\x7e]{1,255}$"
VisibleAscii = Annotated[str, StringConstraints(pattern=VISIBLE_ASCII_PATTERN)]
Quantity = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000, description="A positive whole number of units.")]
NonNegative = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
# No control characters in free text: PostgreSQL text cannot hold NUL, and read models
# and sentences built from it must not break on what a client typed.
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=PRINTABLE_PATTERN)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=PRINTABLE_PATTERN)]


def _currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


Currency = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$"),
    AfterValidator(_currency),
    Field(description="ISO 4217 code.", examples=["GBP"]),
]
Amount = Annotated[
    Decimal,
    Field(
        gt=0,
        max_digits=18,
        allow_inf_nan=False,
        description="A positive amount, with no more decimals than the currency has.",
        examples=["19.99"],
    ),
]
Price = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, allow_inf_nan=False, description="Unit price; zero for free items.", examples=["2.55"]),
]
# PostgreSQL holds far wider times, but every time stored must also read back into Python in any
# session zone: so, in UTC, from the second day of year 1 to the day before the last of year 9999.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would otherwise read ``0`` as 1970-01-01 (Unix time)."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date or time, such as 2026-12-01 or 2026-12-01T09:30:00Z")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("expected an ISO 8601 time as text, not a number")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()} in UTC")
    return value


LedgerTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
BusinessTime = Annotated[
    LedgerTime | None,
    Field(description="When it happened (ISO 8601 with a zone); default now; never in the future."),
]


class Strict(BaseModel):
    """Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class CommandBody(Strict):
    """A command's REST body (and an import line's fields): ``command`` names the message it makes,
    and ``to_command`` makes it, given the ids its route's path carries."""

    command: ClassVar[type[Command]]


class CommandAnswer(BaseModel):
    """What every command answers: the resource, its new version and the ledger position."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The resource the command acted on.")
    version: int = Field(description="The resource's version after the command (also the ETag).")
    position: int | None = Field(description="Ledger position of the last event written.")


def example(**fields: Any) -> dict[str, Any]:
    return {"examples": [fields]}
