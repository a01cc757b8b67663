"""DSN resolution, password masking and ``:name`` parameter translation (no servers)."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.dbconn import classify_db_error, mask_dsn, resolve_db
from workbench.engines.db import strip_statement, translate_params
from workbench.errors import AccessDenied, ConfigError, SpecError


@pytest.mark.parametrize("dsn, shown", [
    ("postgresql://ann:s3cret@db.example:5432/shop", "postgresql://ann:***@db.example:5432/shop"),
    ("postgresql://ann@db.example/shop?sslmode=require&password=s3cret",
     "postgresql://ann@db.example/shop?sslmode=require&password=***"),
    ("host=db user=ann password='s3 cret' dbname=shop", "host=db user=ann password=*** dbname=shop"),
    ("postgresql://ann@db.example/shop", "postgresql://ann@db.example/shop"),
])
def test_mask_dsn_hides_every_password_form(dsn: str, shown: str) -> None:
    assert mask_dsn(dsn) == shown
    assert "s3cret" not in mask_dsn(dsn) and "s3 cret" not in mask_dsn(dsn)


def test_named_connection_comes_from_the_environment() -> None:
    env = {"WORKBENCH_CONN_WAREHOUSE": "postgresql://etl:pa%40ss@dw:5433/wh"}
    target = resolve_db("warehouse", env)
    assert target.dialect == "postgresql" and target.name == "warehouse"
    assert target.uri == "postgresql://etl:pa%40ss@dw:5433/wh"
    assert target.display == "postgresql://etl:***@dw:5433/wh"
    assert "pa@ss" not in repr(target) and "pa%40ss" not in repr(target)
    # a driver message echoing the password (raw or decoded) is scrubbed
    assert target.scrub("failed for pa@ss and pa%40ss at postgresql://etl:pa%40ss@dw:5433/wh") == \
        "failed for *** and *** at postgresql://etl:***@dw:5433/wh"


def test_missing_named_connection_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_db("warehouse", {})
    assert "WORKBENCH_CONN_WAREHOUSE" in err.value.hint


def test_sqlite_urls_follow_sqlalchemy() -> None:
    assert resolve_db("sqlite:////tmp/a.db", {}).uri == "/tmp/a.db"
    assert resolve_db("sqlite:///rel/a.db", {}).uri == "rel/a.db"
    with pytest.raises(ConfigError):
        resolve_db("mysql://x@h/db", {})


def test_a_spec_refuses_a_dsn_with_a_password_without_echoing_it() -> None:
    for build in (lambda: wb.query("select 1", db="postgresql://u:TopSecret1@h/db"),
                  lambda: wb.table("t", db="postgresql://u:TopSecret1@h/db"),
                  lambda: wb.pipeline_from_dict({"source": {"kind": "query", "sql": "select 1",
                                                            "db": "postgresql://u@h/db?password=TopSecret1"}})):
        with pytest.raises(SpecError) as err:
            build()
        assert "TopSecret1" not in str(err.value)
        assert "password" in str(err.value)


def test_auth_failure_is_access_denied_and_scrubbed() -> None:
    target = resolve_db("wh", {"WORKBENCH_CONN_WH": "postgresql://u:Hunter22@h/db"})
    exc = RuntimeError('IO: connection to server failed: FATAL:  password authentication failed '
                       'for user "u" (tried Hunter22)')
    err = classify_db_error(exc, target, connecting=True)
    assert isinstance(err, AccessDenied)
    assert "Hunter22" not in str(err) and "postgresql://u:***@h/db" in str(err)


# ----------------------------------------------------------------------------- parameters
def dollar(k: int, _name: str) -> str:
    return f"${k}"


def test_params_become_positions_and_repeat_reuses_one() -> None:
    sql, order = translate_params("SELECT * FROM t WHERE a > :since AND b < :until OR a = :since",
                                  {"since": 1, "until": 2}, dollar)
    assert sql == "SELECT * FROM t WHERE a > $1 AND b < $2 OR a = $1"
    assert order == ["since", "until"]


def test_params_skip_strings_identifiers_comments_casts_and_dollar_quotes() -> None:
    text = ("SELECT ':a', \":a\", x::date, E'it\\'s :a', $$ :a $$, $t$ :a $t$ -- :a\n"
            "/* :a /* nested :a */ */ FROM t WHERE y = :a")
    sql, order = translate_params(text, {"a": 1}, dollar)
    assert order == ["a"]
    assert sql.endswith("WHERE y = $1")
    assert sql == text[:-2] + "$1"  # only the last :a is a parameter


def test_an_unknown_or_unused_parameter_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=":nme"):
        translate_params("SELECT :nme", {"name": 1}, dollar)
    with pytest.raises(SpecError, match="limit"):
        translate_params("SELECT :name", {"name": 1, "limit": 5}, dollar)


def test_trailing_semicolons_are_dropped_for_wrapping() -> None:
    assert strip_statement("SELECT 1 ;  \n;") == "SELECT 1"
