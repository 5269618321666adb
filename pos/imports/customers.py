"""Steps 3 and 4: match the members, create the others with fresh codes."""

# ruff: noqa: S608 - SQL text is built only from table names (model metadata), column
# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

from loyalty.kernel.errors import DomainError
from members import codes
from members.models import Member

from .purchases import _insert_columns

_CODE_ATTEMPTS = 8


def _unique(generate, count: int, taken: set[str]) -> list[str]:
    """`count` values from `generate`, distinct from each other and from earlier draws."""
    values: list[str] = []
    while len(values) < count:
        for value in generate(count - len(values)):
            if value not in taken:
                taken.add(value)
                values.append(value)
    return values


# 3. Match members: external id, then e-mail (any case), then phone (if unique). ----


def match_members(imp) -> None:
    todo = "r.reason IS NULL AND NOT r.already AND r.member_id IS NULL"
    # An erased member is closed: a row that finds one is rejected (not credited, and
    # no new member is made with the erased account's address).
    erased = "CASE WHEN m.erased_at IS NOT NULL THEN 'erased_member' END"
    imp.sql(
        f"""
        UPDATE imp_rows r SET member_id = m.id, reason = {erased} FROM {{member}} m
        WHERE {todo} AND r.external_id = m.external_id
        """
    )
    imp.sql(
        f"""
        UPDATE imp_rows r SET member_id = m.id, reason = {erased} FROM {{member}} m
        WHERE {todo} AND r.email = lower(m.email)
        """
    )
    imp.sql(
        f"""
        UPDATE imp_rows r SET member_id = p.id
        FROM (
            SELECT regexp_replace(m.phone, '[^0-9+]', '', 'g') AS phone_norm,
                   min(m.id) AS id
            FROM {{member}} m
            WHERE m.phone <> '' AND regexp_replace(m.phone, '[^0-9+]', '', 'g') IN (
                SELECT r.phone_norm FROM imp_rows r WHERE {todo}
            )
            GROUP BY 1 HAVING count(*) = 1
        ) p
        WHERE {todo} AND r.phone_norm = p.phone_norm
        """
    )
    imp._timed("match")


# 4. Create the members nobody matched: one per e-mail, with fresh codes. ----------


_TODO = "reason IS NULL AND NOT already AND member_id IS NULL"


def create_members(imp) -> None:
    """The rows no member matched: a contradicting customer is rejected, the others are
    grouped into new customers (one per e-mail), inserted with their codes and sums, and
    their rows point at them."""
    _reject_contradictions(imp)
    _group_new_customers(imp)
    _sum_new_customers(imp)
    new = imp.one("SELECT count(*) FROM imp_newm")[0]
    if not new:
        return
    _insert_new_members(imp, new)
    _link_rows_to_new_members(imp)
    imp._timed("create_members")


def _reject_contradictions(imp) -> None:
    todo = _TODO
    # A new customer must be one person: an e-mail given with two external ids, or an
    # external id given with two e-mails, is a contradiction the file must resolve.
    imp.sql(
        f"""
        UPDATE imp_rows SET reason = 'email_conflict'
        WHERE {todo} AND email IN (
            SELECT email FROM imp_rows WHERE {todo} AND email IS NOT NULL
            GROUP BY email HAVING count(DISTINCT external_id) > 1
        )
        """
    )
    imp.sql(
        f"""
        UPDATE imp_rows SET reason = 'external_id_conflict'
        WHERE {todo} AND external_id IN (
            SELECT external_id FROM imp_rows
            WHERE {todo} AND email IS NOT NULL AND external_id IS NOT NULL
            GROUP BY external_id HAVING count(DISTINCT email) > 1
        )
        """
    )


def _group_new_customers(imp) -> None:
    todo = _TODO
    # One new member per e-mail; the rows without an e-mail join the new customer
    # with the same external id, or else the same phone (if only one has it).
    imp.sql(
        f"""
        CREATE TEMPORARY TABLE imp_newm ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY min(line)) AS rn, email,
               max(external_id) AS external_id,
               (array_agg(phone ORDER BY line) FILTER (WHERE phone IS NOT NULL))[1]
                   AS phone
        FROM imp_rows WHERE {todo} AND email IS NOT NULL
        GROUP BY email
        """
    )
    imp.sql("ANALYZE imp_newm")
    todo_r = "r.reason IS NULL AND NOT r.already AND r.member_id IS NULL"
    imp.sql(
        f"""
        UPDATE imp_rows r SET new_rn = n.rn FROM imp_newm n
        WHERE {todo_r} AND r.email = n.email
        """
    )
    imp.sql(
        f"""
        UPDATE imp_rows r SET new_rn = n.rn FROM imp_newm n
        WHERE {todo_r} AND r.email IS NULL AND r.external_id = n.external_id
        """
    )
    imp.sql(
        f"""
        UPDATE imp_rows r SET new_rn = p.rn
        FROM (
            SELECT regexp_replace(phone, '[^0-9+]', '', 'g') AS phone_norm, min(rn) AS rn
            FROM imp_newm WHERE phone IS NOT NULL
            GROUP BY 1 HAVING count(*) = 1
        ) p
        WHERE {todo_r} AND r.email IS NULL AND r.new_rn IS NULL
          AND r.phone_norm = p.phone_norm
        """
    )
    imp.sql(f"UPDATE imp_rows SET reason = 'no_member' WHERE {todo} AND new_rn IS NULL")
    # Fresh statistics: the planner must see that member_id and new_rn are now filled
    # in (with stale ones it nests loops over the whole table below).
    imp.sql("ANALYZE imp_rows")


def _sum_new_customers(imp) -> None:
    # The new members are inserted with their balance and purchase facts already
    # summed up: an UPDATE of each new row right after would cost as much again.
    imp.sql(
        """
        CREATE TEMPORARY TABLE imp_newagg ON COMMIT DROP AS
        SELECT new_rn AS rn, sum(carats) AS carats, count(*) AS n, sum(amount_eur) AS eur,
               min(occurred_at) AS first_at, max(occurred_at) AS last_at
        FROM imp_rows WHERE reason IS NULL AND new_rn IS NOT NULL
        GROUP BY new_rn
        """
    )
    imp.sql("CREATE TEMPORARY TABLE imp_created (id bigint PRIMARY KEY, email text) ON COMMIT DROP")


def _insert_new_members(imp, new: int) -> None:
    _allocate_codes(imp, new)
    cols, select, params = _insert_columns(
        Member,
        {
            "member_number": "c.member_number",
            "email": "n.email",
            "phone": "coalesce(n.phone, '')",
            "external_id": "n.external_id",
            "source": "%(source)s",
            "joined_at": "a.first_at",
            "qr_token": "c.qr_token",
            "referral_code": "c.referral_code",
            "balance": "a.carats",
            "first_purchase_at": "a.first_at",
            "last_purchase_at": "a.last_at",
            "purchase_count": "a.n",
            "lifetime_spend_eur": "a.eur",
        },
        now=imp.now,
    )
    imp.sql(
        f"""
        WITH ins AS (
            INSERT INTO {{member}} ({cols})
            SELECT {select}
            FROM imp_newm n
            JOIN imp_codes c ON c.rn = n.rn
            JOIN imp_newagg a ON a.rn = n.rn
            ORDER BY n.rn
            RETURNING id, email
        )
        INSERT INTO imp_created (id, email) SELECT id, email FROM ins
        """,
        {**params, "source": Member.Source.IMPORT},
    )
    imp.report.members_created = imp.cur.rowcount


def _link_rows_to_new_members(imp) -> None:
    imp.sql("ANALYZE imp_created")
    imp.sql(
        """
        UPDATE imp_rows r SET member_id = c.id
        FROM imp_newm n JOIN imp_created c ON c.email = n.email
        WHERE r.new_rn = n.rn
        """
    )


def _allocate_codes(imp, count: int) -> None:
    """Member numbers, QR tokens and referral codes for `count` new members: generated
    here, COPYed in, and any that collide with an existing member are drawn again."""
    imp.sql(
        "CREATE TEMPORARY TABLE imp_codes (rn bigint PRIMARY KEY, member_number text, "
        "qr_token text, referral_code text) ON COMMIT DROP"
    )
    missing = list(range(1, count + 1))
    taken: set[str] = set()
    for _attempt in range(_CODE_ATTEMPTS):
        numbers = _unique(codes.new_member_numbers, len(missing), taken)
        tokens = _unique(codes.new_qr_tokens, len(missing), taken)
        referrals = _unique(codes.new_referral_codes, len(missing), taken)
        with imp.cur.cursor.copy(
            "COPY imp_codes (rn, member_number, qr_token, referral_code) FROM STDIN"
        ) as copy:
            for row in zip(missing, numbers, tokens, referrals, strict=True):
                copy.write_row(row)
        collisions = sum(
            imp.sql(f"DELETE FROM imp_codes c USING {{member}} m WHERE m.{code} = c.{code}")
            for code in ("member_number", "qr_token", "referral_code")
        )
        if not collisions:
            return
        imp.cur.execute("SELECT rn FROM imp_codes")
        have = {rn for (rn,) in imp.cur.fetchall()}
        missing = [rn for rn in range(1, count + 1) if rn not in have]
    raise DomainError("Could not allocate member numbers, run the import again.")
