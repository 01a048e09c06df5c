"""Hold rules: which orders go on hold as they are placed, and how their holds let go.

Every rule sits in one stream, so placing an order reads one more aggregate, as it reads the
location directory. A rule names one or more conditions, and holds an order that meets all of
them: a total above an amount (in that currency), a channel, or being unpaid when placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.base import LedgerAggregate, stream_id
from domain.errors import HoldRuleNotFound, InvalidCommand
from domain.meta import Meta
from domain.money import check_amount, check_currency
from domain.order_records import HoldKind, HoldRelease


@dataclass(frozen=True, slots=True)
class HoldRule:
    kind: HoldKind
    reason: str
    above: Decimal | None = None  # the order's total must be above this, in ``currency``
    currency: str | None = None
    channel: str | None = None
    unpaid: bool = False  # an order with something to pay (at placement, nothing is paid)
    release: HoldRelease = HoldRelease.MANUAL

    def check(self) -> HoldRule:
        if not self.reason.strip():
            raise InvalidCommand("a hold rule needs a reason")
        if self.above is None and self.channel is None and not self.unpaid:
            raise InvalidCommand("a hold rule needs a condition: above (with currency), channel or unpaid")
        if (self.above is None) != (self.currency is None):
            raise InvalidCommand("above and currency go together")
        if self.above is not None and self.currency is not None:
            check_currency(self.currency)
            check_amount(self.above, self.currency, allow_zero=True, what="above")
        return self

    def holds(self, total: Decimal, currency: str, channel: str) -> bool:
        if self.above is not None and (currency != self.currency or total <= self.above):
            return False
        if self.channel is not None and channel != self.channel:
            return False
        return not (self.unpaid and total <= 0)


class HoldRules(LedgerAggregate):
    ID = stream_id("hold-rules")

    def __init__(self) -> None:
        self.rules: dict[str, HoldRule] = {}

    @classmethod
    def start(cls, meta: Meta) -> HoldRules:
        return cls._create(cls.Started, id=cls.ID, **meta.fields())

    def set_rule(self, rule_id: str, rule: HoldRule, meta: Meta) -> None:
        self.trigger_event(self.RuleSet, **meta.fields(), rule_id=rule_id, rule=rule.check())

    def remove_rule(self, rule_id: str, meta: Meta) -> None:
        if rule_id not in self.rules:
            raise HoldRuleNotFound(f"there is no hold rule {rule_id!r}")
        self.trigger_event(self.RuleRemoved, **meta.fields(), rule_id=rule_id)

    def matching(self, total: Decimal, currency: str, channel: str) -> list[tuple[str, HoldRule]]:
        """The rules an order placed with this total, currency and channel meets, by rule id."""
        return [(rule_id, rule) for rule_id, rule in sorted(self.rules.items()) if rule.holds(total, currency, channel)]

    class Started(LedgerAggregate.Created):
        pass

    class RuleSet(LedgerAggregate.Event):
        rule_id: str
        rule: HoldRule

        def apply(self, aggregate: HoldRules) -> None:
            aggregate.rules[self.rule_id] = self.rule

    class RuleRemoved(LedgerAggregate.Event):
        rule_id: str

        def apply(self, aggregate: HoldRules) -> None:
            del aggregate.rules[self.rule_id]
