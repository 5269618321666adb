"""Step 5: the purchases, the members' balances and facts, the ledger entries."""

# ruff: noqa: S608 - SQL text is built only from table names (model metadata), column
# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection, models

from members.models import LedgerEntry
from pos.models import Channel, Purchase


def _insert_columns(model, exprs: dict[str, str], *, now: datetime) -> tuple[str, str, dict]:
    """Column list and SELECT list for an INSERT ... SELECT into `model`'s table: the given
    SQL expressions, and every other column its Python default (auto_now fields: `now`),
    so a column added to the model later does not break the import."""
    qn = connection.ops.quote_name
    cols, select, params = [], [], {}
    for f in model._meta.concrete_fields:
        if f.primary_key and f.column not in exprs:
            continue
        cols.append(qn(f.column))
        if f.column in exprs:
            select.append(exprs[f.column])
        elif isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            select.append("%(now)s")
            params["now"] = now
        else:
            name = f"default_{f.column}"
            select.append(f"%({name})s")
            params[name] = f.get_db_prep_save(f.get_default(), connection)
    unknown = set(exprs) - {f.column for f in model._meta.concrete_fields}
    if unknown:  # pragma: no cover - a programming error
        raise ValueError(f"Unknown columns for {model.__name__}: {sorted(unknown)}")
    return ", ".join(cols), ", ".join(select), params


# 5. Purchases, balances and facts, ledger entries. ---------------------------------


def record_purchases(imp) -> None:
    """The valid rows' purchases (an order recorded meanwhile is left alone), then the
    members' balances and purchase facts, then the ledger entries."""
    _previous_balances(imp)
    _insert_purchases(imp)
    imp.sql("ANALYZE imp_new")
    imp._timed("purchases")
    _move_existing_members(imp)
    _correct_new_members(imp)
    _new_members_balances(imp)
    _shift_provisional_balances(imp)
    imp._timed("balances")
    _insert_ledger_entries(imp)
    imp._timed("ledger")


_OK = "r.reason IS NULL AND NOT r.already"


def _previous_balances(imp) -> None:
    ok = _OK
    imp.sql(
        f"""
        CREATE TEMPORARY TABLE imp_prev ON COMMIT DROP AS
        SELECT m.id AS member_id, m.balance FROM {{member}} m
        WHERE m.id IN (SELECT r.member_id FROM imp_rows r WHERE {ok} AND r.new_rn IS NULL)
        UNION ALL
        SELECT id, 0 FROM imp_created
        """
    )


def _insert_purchases(imp) -> None:
    ok = _OK
    imp.sql(
        "CREATE TEMPORARY TABLE imp_new (id bigint, member_id bigint, store_id bigint, "
        "receipt_id text, receipt_key text, occurred_at timestamptz, "
        "amount_eur numeric(12, 2), carats_awarded int) ON COMMIT DROP"
    )
    cols, select, params = _insert_columns(
        Purchase,
        {
            "member_id": "r.member_id",
            "channel": "%(channel)s",
            "store_id": "r.store_id",
            "receipt_id": "r.order_id",
            "receipt_key": "r.receipt_key",
            "fingerprint": "encode(sha256(convert_to(concat_ws('|', r.member_id, "
            "r.occurred_at, r.amount, r.currency), 'UTF8')), 'hex')",
            "amount": "r.amount",
            "currency": "r.currency",
            "rate_to_eur": "r.rate",
            "amount_eur": "r.amount_eur",
            "occurred_at": "r.occurred_at",
            "carats_awarded": "r.carats",
            "carats_status": "'credited'",
            "earning_reason": "r.carats || ' for ' || r.amount_eur || ' EUR (retroactive: "
            "base rate, no campaigns)'",
            # Provisional: exact unless a sale of the member commits meanwhile (fixed below).
            "balance_after": "pv.balance + sum(r.carats) OVER (PARTITION BY r.member_id "
            "ORDER BY r.occurred_at, r.line)",
            "recorded_by_id": "%(actor)s",
            "client": "'history import'",
            "created_at": "%(now)s",
        },
        now=imp.now,
    )
    # ON CONFLICT DO NOTHING: an order recorded meanwhile is left alone, and only the
    # purchases actually inserted (RETURNING) move balances and get ledger entries.
    # Ordered so that ids follow (member, occurred_at, line).
    imp.sql(
        f"""
        WITH ins AS (
            INSERT INTO {{purchase}} ({cols})
            SELECT {select}
            FROM imp_rows r JOIN imp_prev pv ON pv.member_id = r.member_id
            WHERE {ok}
            ORDER BY r.member_id, r.occurred_at, r.line
            ON CONFLICT (receipt_key) DO NOTHING
            RETURNING id, member_id, store_id, receipt_id, receipt_key, occurred_at,
                      amount_eur, carats_awarded
        )
        INSERT INTO imp_new SELECT * FROM ins
        """,
        {**params, "channel": Channel.IMPORT, "actor": imp.actor_id, "now": imp.now},
    )


def _move_existing_members(imp) -> None:
    # One UPDATE moves the existing members' balances and purchase facts; RETURNING
    # gives the new balance under the row lock, from which balance_after is exact.
    imp.sql(
        "CREATE TEMPORARY TABLE imp_bal (member_id bigint PRIMARY KEY, balance int, "
        "added int) ON COMMIT DROP"
    )
    imp.sql(
        """
        WITH agg AS (
            SELECT member_id, sum(carats_awarded) AS carats, count(*) AS n,
                   sum(amount_eur) AS eur, min(occurred_at) AS first_at,
                   max(occurred_at) AS last_at
            FROM imp_new n
            WHERE NOT EXISTS (SELECT 1 FROM imp_created c WHERE c.id = n.member_id)
            GROUP BY member_id
        ),
        moved AS (
            UPDATE {member} m SET
                balance = m.balance + agg.carats,
                purchase_count = m.purchase_count + agg.n,
                lifetime_spend_eur = m.lifetime_spend_eur + agg.eur,
                first_purchase_at = LEAST(m.first_purchase_at, agg.first_at),
                last_purchase_at = GREATEST(m.last_purchase_at, agg.last_at),
                updated_at = %(now)s
            FROM agg WHERE m.id = agg.member_id
            RETURNING m.id, m.balance, agg.carats
        )
        INSERT INTO imp_bal (member_id, balance, added) SELECT * FROM moved
        """,
        {"now": imp.now},
    )


def _correct_new_members(imp) -> None:
    # New members were inserted with the sums of all their rows; if an order of theirs
    # was recorded meanwhile (ON CONFLICT above), recompute them from what was inserted.
    imp.sql(
        """
        WITH got AS (
            SELECT n.member_id, sum(n.carats_awarded) AS carats, count(*) AS n,
                   sum(n.amount_eur) AS eur, min(n.occurred_at) AS first_at,
                   max(n.occurred_at) AS last_at
            FROM imp_new n JOIN imp_created c ON c.id = n.member_id
            GROUP BY n.member_id
        ),
        short AS (
            SELECT c.id, got.carats, got.n, got.eur, got.first_at, got.last_at
            FROM imp_created c
            JOIN imp_newm nm ON nm.email = c.email
            JOIN imp_newagg a ON a.rn = nm.rn
            LEFT JOIN got ON got.member_id = c.id
            WHERE a.n <> coalesce(got.n, 0)
        )
        UPDATE {member} m SET
            balance = coalesce(short.carats, 0),
            purchase_count = coalesce(short.n, 0),
            lifetime_spend_eur = coalesce(short.eur, 0),
            first_purchase_at = short.first_at,
            last_purchase_at = short.last_at
        FROM short WHERE m.id = short.id
        """
    )


def _new_members_balances(imp) -> None:
    imp.sql(
        """
        INSERT INTO imp_bal (member_id, balance, added)
        SELECT n.member_id, sum(n.carats_awarded), sum(n.carats_awarded)
        FROM imp_new n JOIN imp_created c ON c.id = n.member_id
        GROUP BY n.member_id
        """
    )


def _shift_provisional_balances(imp) -> None:
    # A sale of one of these members committed between the purchase insert and the
    # UPDATE: shift that member's provisional purchase balances (normally no row).
    imp.sql(
        """
        UPDATE {purchase} p
        SET balance_after = p.balance_after + (b.balance - b.added - pv.balance)
        FROM imp_new n
        JOIN imp_bal b ON b.member_id = n.member_id
        JOIN imp_prev pv ON pv.member_id = n.member_id
        WHERE p.id = n.id AND b.balance - b.added <> pv.balance
        """
    )


def _insert_ledger_entries(imp) -> None:
    cols, select, params = _insert_columns(
        LedgerEntry,
        {
            "member_id": "x.member_id",
            "carats": "x.carats_awarded",
            "kind": "%(kind)s",
            "reason": "'Retroactive: order ' || x.receipt_id || ' of ' || "
            "to_char(x.occurred_at AT TIME ZONE coalesce(s.time_zone, %(default_tz)s), "
            "'YYYY-MM-DD')",
            "key": "'retro:' || x.receipt_key",
            "actor_id": "%(actor)s",
            "balance_after": "x.balance_after",
            "occurred_at": "x.occurred_at",
            "created_at": "%(now)s",
        },
        now=imp.now,
    )
    imp.sql(
        f"""
        INSERT INTO {{ledger}} ({cols})
        SELECT {select}
        FROM (
            SELECT n.*, b.balance - b.added + sum(n.carats_awarded) OVER (
                PARTITION BY n.member_id ORDER BY n.occurred_at, n.id
            ) AS balance_after
            FROM imp_new n JOIN imp_bal b ON b.member_id = n.member_id
        ) x
        LEFT JOIN {{store}} s ON s.id = x.store_id
        WHERE x.carats_awarded > 0
        ORDER BY x.member_id, x.occurred_at, x.id
        """,
        {
            **params,
            "kind": LedgerEntry.Kind.RETROACTIVE,
            "actor": imp.actor_id,
            "default_tz": settings.TIME_ZONE,
            "now": imp.now,
        },
    )
