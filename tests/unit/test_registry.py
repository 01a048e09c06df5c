"""Every command is declared whole in the registry, and everything derived from it agrees."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, get_type_hints

from api.importing import import_specs
from api.routers.commands import PATH_PARAMETERS, bodies
from commands import messages as m
from commands.registry import BY_NAME, COMMANDS, SPECS
from domain.base import LedgerAggregate
from domain.hold_rules import HoldRule
from domain.order_records import HoldKind
from projections.summaries import summarize
from tests.scenarios import event_classes


def message_classes() -> set[type[m.Command]]:
    return {v for v in vars(m).values() if isinstance(v, type) and issubclass(v, m.Command) and v is not m.Command}


def test_every_message_has_one_registry_entry() -> None:
    assert set(SPECS) == message_classes()
    assert len(COMMANDS) == len(SPECS) == len(BY_NAME)


def test_every_entry_has_a_handler_reads_a_summary_and_the_events_it_records() -> None:
    for spec in COMMANDS:
        assert callable(spec.handler) and callable(spec.reads), spec.name
        assert spec.summary.strip(), spec.name
        assert spec.records, spec.name
        if spec.new_stream is not None:
            assert spec.new_stream.field in {f.name for f in dataclasses.fields(spec.message)}


def test_every_route_is_unique_and_its_path_names_fields_of_the_message() -> None:
    routes = [(spec.route.method, spec.route.path) for spec in COMMANDS]
    assert len(set(routes)) == len(routes)
    for spec in COMMANDS:
        fields = {f.name for f in dataclasses.fields(spec.message)}
        assert set(spec.route.parameters()) <= fields & set(PATH_PARAMETERS), spec.name
        assert spec.route.method in {"POST", "PUT", "DELETE"} and spec.route.status in {200, 201}, spec.name


def test_every_command_has_a_body_schema_that_takes_its_path_ids() -> None:
    schemas = bodies()
    assert set(schemas) == set(SPECS)
    for spec in COMMANDS:
        taken = list(inspect.signature(schemas[spec.message].to_command).parameters)[1:]  # after self
        assert taken == spec.route.parameters(), spec.name


def test_every_command_can_be_imported_by_its_name() -> None:
    specs = import_specs()
    assert set(specs) == set(BY_NAME)
    for name, spec in BY_NAME.items():
        assert specs[name].body is bodies()[spec.message]
        assert specs[name].path == tuple(spec.route.parameters())


def _dummy(hint: Any) -> Any:
    if hint is str or hint == (str | None):
        return "x"
    if hint is int or hint is bool:
        return 1
    if hint is Decimal:
        return Decimal(1)
    if hint is datetime or hint == (datetime | None):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if hint is HoldRule:
        return HoldRule(HoldKind.MANUAL, "x", channel="x")
    return ()


def test_every_event_is_recorded_by_some_command_and_has_an_audit_sentence() -> None:
    recorded = {event for spec in COMMANDS for event in spec.records}
    classes = event_classes()
    assert classes <= recorded, sorted(c.__qualname__ for c in classes - recorded)
    for event_class in classes:
        event: LedgerAggregate.Event = object.__new__(event_class)
        hints = get_type_hints(event_class)
        event.__dict__.update({name: _dummy(hint) for name, hint in hints.items() if not name.startswith("_")})
        sentence = summarize(event, "Order 1", {})
        assert sentence != f"Order 1: {event_class.__name__}", f"{event_class.__qualname__} has no sentence"
