"""Errors cross from the writer's process to HTTP worker processes as pickles, unchanged."""

from __future__ import annotations

import pickle

from api import errors as api_errors
from domain import errors as e


def _every(kind: type[e.LedgerError]) -> list[type[e.LedgerError]]:
    return [kind, *(sub for child in kind.__subclasses__() for sub in _every(child))]


def test_every_ledger_error_arrives_as_the_same_class_with_its_details() -> None:
    assert api_errors.Unauthenticated in _every(e.LedgerError)  # the walk reaches the API's errors too
    for kind in _every(e.LedgerError):
        sent = kind.__new__(kind, f"{kind.__name__} happened")
        e.LedgerError.__init__(sent, f"{kind.__name__} happened", where="here")
        received = pickle.loads(pickle.dumps(sent))
        assert type(received) is kind
        assert (received.detail, received.extra, str(received)) == (sent.detail, sent.extra, str(sent))


def test_errors_whose_constructor_takes_other_arguments_keep_them() -> None:
    stale = pickle.loads(pickle.dumps(e.StaleVersion("order o1 is at 3", expected=2, actual=3)))
    assert stale.extra == {"expected": 2, "actual": 3}
    short = pickle.loads(pickle.dumps(e.InsufficientStock("not enough", ["A", "B"])))
    assert (short.skus, short.extra) == (["A", "B"], {"skus": ["A", "B"]})
