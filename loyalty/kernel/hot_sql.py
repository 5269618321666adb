"""Prepared statements for the few statements every till request runs (PostgreSQL).

Django binds parameters on the client: PostgreSQL parses and plans every statement
again. For the sale's statements planning cost more than running them (pg_stat_statements
on the 1,000,000-member benchmark: the facts read 0.41 ms planning vs 0.12 ms execution,
the write 0.18 vs 0.23). Here they are bound on the server and prepared once per
connection, and statements that belong together go in one pipeline (one network round
trip, the transaction's BEGIN included).

Prepared statements live in the database session: with PgBouncer in transaction mode use
1.21 or newer (`max_prepared_statements`) or set DATABASE_PREPARED_STATEMENTS=false, which
keeps the server-side binding and the pipeline but plans every time.

Executions are recorded in `connection.queries` like Django's own (DEBUG, and the tests'
query counts)."""

import functools
import inspect
import time
from collections.abc import Callable, Sequence

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute


def available() -> bool:
    """PostgreSQL only: callers keep an ORM path for other databases (SQLite in
    `make run`), whose values need Django's converters."""
    return connection.vendor == "postgresql"


def _run(sql: str, params, body: Callable[[psycopg.Connection], object]):
    """`body(psycopg connection)` after the checks Django's cursor() makes, with its
    errors translated (django.db.IntegrityError ...), through the connection's execute
    wrappers (instrumentation) and recorded in connection.queries when that is on."""
    db = connections[DEFAULT_DB_ALIAS]
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_no_broken_transaction()
    raw = db.connection

    def execute(sql, params, many, context):
        with db.wrap_database_errors:
            return body(raw)

    started = time.monotonic()
    executor = execute
    for wrapper in reversed(db.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    result = executor(sql, params, False, {"connection": db, "cursor": None})
    if db.queries_logged:
        db.queries_log.append(
            {"sql": f"{sql} -- {params!r}", "time": f"{time.monotonic() - started:.3f}"}
        )
    return result


def fetch(sql: str, params: dict | Sequence, *, many: bool = False):
    """Run one statement, prepared; its first row (or all rows with `many`)."""

    def body(raw):
        with psycopg.Cursor(raw) as cur:
            cur.execute(sql, params, prepare=True)
            return cur.fetchall() if many else cur.fetchone()

    return _run(sql, params, body)


def fetch_pipeline(statements: Sequence[tuple[str, dict | Sequence]]) -> list:
    """Run the statements in one round trip, each prepared; the first row of each (None
    for a statement that returns no row). Recorded as one query (one round trip), the
    statements separated by `;`."""

    def body(raw):
        cursors = [psycopg.Cursor(raw) for _ in statements]
        try:
            with raw.pipeline():
                for cur, (sql, params) in zip(cursors, statements, strict=True):
                    cur.execute(sql, params, prepare=True)
            return [cur.fetchone() for cur in cursors]
        finally:
            for cur in cursors:
                cur.close()

    sql = ";\n".join(sql.strip() for sql, _ in statements)
    return _run(sql, [params for _, params in statements], body)


_INSERTS: dict[tuple, tuple[str, list]] = {}


def insert_statement(
    obj: Model, *, unless_exists: bool = False, when: str = "", when_params: Sequence = ()
) -> tuple[str, list]:
    """The INSERT of one model instance as `insert` runs it, to send in a pipeline with
    other statements (`fetch_pipeline`); it returns the new primary key, or no row. With
    `when` (an SQL condition with %s placeholders for `when_params`), the row is written
    only if the condition holds when the statement runs: e.g. only if an earlier statement
    of the same pipeline changed a row."""
    db = connections[DEFAULT_DB_ALIAS]
    model = type(obj)
    key = (model, unless_exists, when, db.vendor)
    if key not in _INSERTS:
        meta = model._meta
        fields = [f for f in meta.concrete_fields if f is not meta.pk]
        columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        if when:
            # The callers' own constant SQL (never a request's), placeholders bound.
            sql = f"INSERT INTO {meta.db_table} ({columns}) SELECT {marks} WHERE {when}"
        else:
            sql = f"INSERT INTO {meta.db_table} ({columns}) VALUES ({marks})"  # noqa: S608
        if unless_exists:
            sql += " ON CONFLICT DO NOTHING"
        sql += f" RETURNING {db.ops.quote_name(meta.pk.column)}"
        _INSERTS[key] = (sql, fields)
    sql, fields = _INSERTS[key]
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    return sql, [*params, *when_params]


def insert(obj: Model, *, unless_exists: bool = False) -> bool:
    """INSERT one model instance in one prepared statement, without the ORM's query
    building; with `unless_exists`, `ON CONFLICT DO NOTHING` (a row with the same unique
    key is left as it is). Sets the primary key and returns True if a row was written.
    A claim in one statement: `get_or_create` takes a SELECT, a savepoint, the INSERT
    and the savepoint's release. Other databases (SQLite supports the same clause) go
    through Django's cursor."""
    db = connections[DEFAULT_DB_ALIAS]
    sql, params = insert_statement(obj, unless_exists=unless_exists)
    if available():
        row = fetch(sql, params)
    else:
        with db.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = db.alias
    return True


_PLAIN_FIELDS: dict[type, frozenset[str] | None] = {}
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


def _plain_attnames(model: type[Model]) -> frozenset[str] | None:
    """The attnames of `model`'s concrete fields, if an instance can be filled in without
    __init__: every field behind Django's plain column descriptors (no file fields or
    other descriptors of their own) and no pre_init or post_init receivers. Else None."""
    if model not in _PLAIN_FIELDS:
        names = frozenset(f.attname for f in model._meta.concrete_fields)
        plain = all(
            type(inspect.getattr_static(model, name, None)) in _PLAIN_DESCRIPTORS for name in names
        ) and not (signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model))
        _PLAIN_FIELDS[model] = names if plain else None
    return _PLAIN_FIELDS[model]


def built(model: type[Model], values: dict, **related: Model | None):
    """A `model` instance as loaded from the database, with `values` (every concrete
    field's attname, no more, no less) and the related objects `related` cached by field
    name. What Model.from_db does, without __init__'s work per field: the sale builds
    its member and its purchase this way on every request (about 190 lines of Python
    each in __init__). Falls back to the model's constructor when the values are not
    exactly the fields or the model needs its __init__."""
    names = _plain_attnames(model)
    if names is None or len(values) != len(names) or not names.issuperset(values):
        obj = model(**values)
    else:
        obj = model.__new__(model)
        obj.__dict__.update(values)
        obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    meta = model._meta
    for name, value in related.items():
        meta.get_field(name).set_cached_value(obj, value)
    return obj
