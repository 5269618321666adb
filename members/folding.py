"""Accent- and case-folding for the client search, the same in Python and in SQL.

`Fold(expr)` is lower() then translate() over a fixed table of accented Latin letters:
both are immutable in PostgreSQL, so an expression index can hold the folded names
(PostgreSQL's `unaccent` is only stable, so it cannot be indexed, and a stored column would
have to be kept right by every writer of a member: sign-up, till, API, import, console,
erasure). The folded value is compared in the "C" collation, so a prefix (`LIKE 'dup%'`)
and the order of the results both come straight from the btree, whatever the database's
own collation is. `fold()` is the same folding in Python, for the typed query."""

from django.db.models import CharField, Func

ACCENTED = "àáâãäåāăąçćčďđèéêëēėęěìíîïīįłñńňòóôõöøōőŕřśšşťùúûüūůűųýÿźżž"
PLAIN = "aaaaaaaaacccddeeeeeeeeiiiiiilnnnoooooooorrssstuuuuuuuuyyzzz"
assert len(ACCENTED) == len(PLAIN)  # a typo here would fold wrongly
_TABLE = str.maketrans(ACCENTED, PLAIN)


def fold(text: str) -> str:
    """What Fold() makes of a value in the database."""
    return (text or "").lower().translate(_TABLE)


def digits(text: str) -> str:
    return "".join(c for c in text or "" if c.isdigit())


class Fold(Func):
    """lower() + translate() of the accents, in the "C" collation (PostgreSQL)."""

    output_field = CharField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="LOWER(%(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite (make run): the same folding as Python's, registered on each connection
        # (sqlite_functions below), so the demo finds "Dupré" by "dupre" too.
        return super().as_sql(compiler, connection, template="carat_fold(%(expressions)s)")

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template=f"(TRANSLATE(LOWER(%(expressions)s), '{ACCENTED}', '{PLAIN}') COLLATE \"C\")",
        )


class Digits(Func):
    """The digits of a phone number."""

    output_field = CharField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="%(expressions)s")

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="carat_digits(%(expressions)s)")

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="(REGEXP_REPLACE(%(expressions)s, '[^0-9]', '', 'g') COLLATE \"C\")",
        )


def sqlite_functions(sender, connection, **kwargs) -> None:
    """Give each SQLite connection the folding functions (PostgreSQL has its own)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("carat_fold", 1, fold, deterministic=True)
        connection.connection.create_function("carat_digits", 1, digits, deterministic=True)
