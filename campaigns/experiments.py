"""Experiments: who is held out of a trigger, broadcast, bonus rule or challenge, and which
mail variant a member reads. One stable hash decides both, with a different salt each.

The bucket of a member in an experiment is the first 32 bits of md5("<salt>:<experiment
key>:<member id>") modulo 10,000. The same number comes out of Python (`bucket`), of
PostgreSQL (`bucket_sql`, md5 is built in) and of SQLite (the function `carat_bucket`,
registered on each connection by `sqlite_functions`), so a set-based selection decides in
its own statement, and a sale decides in Python from the member's id it already holds:
no table of assignments to read, no extra round trip. The salt makes the holdout and the
variant split independent (a held-out member is not more likely to be in variant A)."""

import hashlib

HOLDOUT = "holdout"
VARIANT = "variant"
BUCKETS = 10_000
MAX_HOLDOUT_PERCENT = 50


def experiment_key(kind: str, pk: int) -> str:
    """The experiment's name in the hash: "trigger:3", "broadcast:7", "rule:2",
    "challenge:5". Stable for the object's life (a renamed rule keeps its split)."""
    return f"{kind}:{pk}"


def bucket(salt: str, key: str, member_id: int) -> int:
    digest = hashlib.md5(f"{salt}:{key}:{int(member_id)}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % BUCKETS


def held_out(key: str, member_id: int, percent: int) -> bool:
    """Whether the member is in the experiment's control group (`percent` of members,
    0-50)."""
    if not percent:
        return False
    return bucket(HOLDOUT, key, member_id) < min(int(percent), MAX_HOLDOUT_PERCENT) * 100


def variant_index(key: str, member_id: int, count: int) -> int:
    """Which of `count` variants the member reads: an even split, stable per member."""
    return bucket(VARIANT, key, member_id) % count if count > 1 else 0


def bucket_sql(vendor: str, member_column: str) -> str:
    """SQL for the member's bucket; takes one parameter, "<salt>:<key>:" (`bucket_prefix`),
    and is written for a cursor with parameters (its modulo is `%%`)."""
    if vendor == "postgresql":
        return (
            f"(('x' || substr(md5(%s || ({member_column})::text), 1, 8))::bit(32)::bigint"
            f" %% {BUCKETS})"
        )
    return f"carat_bucket(%s, {member_column})"


def bucket_prefix(salt: str, key: str) -> str:
    return f"{salt}:{key}:"


def held_out_sql(vendor: str, member_column: str, percent: int) -> str:
    """A boolean SQL expression (one parameter: `bucket_prefix(HOLDOUT, key)`) that is
    true for the members `held_out` says are held out."""
    limit = min(int(percent), MAX_HOLDOUT_PERCENT) * 100
    return f"({bucket_sql(vendor, member_column)} < {limit})"


def _sqlite_bucket(prefix, member_id):
    if prefix is None or member_id is None:
        return None
    digest = hashlib.md5(f"{prefix}{int(member_id)}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % BUCKETS


def sqlite_functions(sender, connection, **kwargs) -> None:
    """Give each SQLite connection the bucket function (PostgreSQL computes it in SQL)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("carat_bucket", 2, _sqlite_bucket, deterministic=True)
