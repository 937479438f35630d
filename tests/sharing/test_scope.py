"""Narrowing a requested scope: equal or narrower passes, anything wider is refused with the field named."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.sharing.problems import SharingInputError
from cityhub.sharing.scope import Scope, is_narrower, make, narrow

END = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
REQ = Scope(("name", "district", "age"), {"district": ["440106", "440104"]}, END)


def test_same_scope_is_not_narrower() -> None:
    got = narrow(REQ, REQ)
    assert got == REQ
    assert not is_narrower(REQ, got)


def test_fewer_columns_fewer_values_extra_filter_earlier_end() -> None:
    approved = Scope(("district",), {"district": ["440106"], "age": [30]}, END - dt.timedelta(days=30))
    got = narrow(REQ, approved)
    assert got.columns == ("district",)
    assert got.row_filter == {"district": ["440106"], "age": [30]}
    assert is_narrower(REQ, got)


@pytest.mark.parametrize(
    ("approved", "field"),
    [
        (Scope(None, REQ.row_filter, END), "columns"),
        (Scope(("name", "id_no"), REQ.row_filter, END), "columns"),
        (Scope(REQ.columns, None, END), "row_filter"),
        (Scope(REQ.columns, {"age": [30]}, END), "row_filter"),
        (Scope(REQ.columns, {"district": ["440106", "440111"]}, END), "row_filter"),
        (Scope(REQ.columns, {"district": [440106]}, END), "row_filter"),
        (Scope(REQ.columns, REQ.row_filter, END + dt.timedelta(seconds=1)), "expires_at"),
        (Scope(REQ.columns, REQ.row_filter, None), "expires_at"),
    ],
)
def test_widening_is_refused(approved: Scope, field: str) -> None:
    with pytest.raises(SharingInputError) as err:
        narrow(REQ, approved)
    assert err.value.field == field
    assert err.value.zh and err.value.en


def test_everything_requested_allows_any_choice() -> None:
    everything = Scope(None, None, None)
    got = narrow(everything, Scope(("a",), {"b": "x"}, END))
    assert got.row_filter == {"b": ["x"]}


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(SharingInputError):
        make("name", None, None)  # type: ignore[arg-type]
    with pytest.raises(SharingInputError):
        make([], None, None)
    with pytest.raises(SharingInputError):
        make(None, {"d": []}, None)
    with pytest.raises(SharingInputError):
        make(None, {"d": [{"x": 1}]}, None)
    with pytest.raises(SharingInputError):
        make(None, None, dt.datetime(2027, 1, 1))  # naive
    assert make(["a", "a", "b"], {}, None) == Scope(("a", "b"), None, None)
