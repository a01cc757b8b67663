from __future__ import annotations

import json
import pickle

import pytest

from workbench import errors


@pytest.mark.parametrize("cls", [errors.SourceError, errors.CheckFailed, errors.StorageUnavailable,
                                 errors.InternalError, errors.SQLError])
def test_errors_survive_pickle_and_json(cls):
    err = cls("bad value", file="a.csv", row=12, column="amount", step="read", hint="fix it")
    for copy in (pickle.loads(pickle.dumps(err)),
                 errors.WorkbenchError.from_dict(json.loads(json.dumps(err.to_dict())))):
        assert type(copy) is cls
        assert copy.to_dict() == err.to_dict()


def test_retryable_follows_the_tree():
    assert errors.StorageUnavailable("x").retryable
    assert errors.BrokerUnavailable("x").retryable
    assert not errors.SourceError("x").retryable
    assert not errors.CheckFailed("x").retryable


def test_str_names_where_and_hint():
    text = str(errors.SourceError("bad", file="f.csv", row=3, column="c", hint="do this"))
    assert "f.csv" in text and "row 3" in text and "'c'" in text and "Hint: do this" in text


def test_context_fills_only_empty_fields():
    err = errors.SQLError("x", step="inner").with_context(step="outer", file="f")
    assert err.step == "inner" and err.file == "f"


def test_unknown_exception_becomes_internal_error():
    err = errors.as_workbench_error(ZeroDivisionError("boom"), step="s")
    assert isinstance(err, errors.InternalError) and "boom" in err.message and err.step == "s"
