"""Seed a separate PostgreSQL database for the benchmark with COPY.

Steps: (re)create the database, `manage.py migrate`, `manage.py loaddemo --members 0` (the
program: tiers, stores, rates, rules, trigger e-mails, the demo logins and one demo
member), then stream members, ledger entries, purchases and tier statuses from Python
generators into four COPYs running side by side (one connection each). The secondary
indexes, unique and foreign-key constraints of those tables are dropped before and
rebuilt after (exactly as the migrations made them, from pg_get_indexdef /
pg_get_constraintdef); before that the ledger and the purchases are rewritten in time
order, as a live database holds them; then VACUUM ANALYZE.

The data is consistent the way the application keeps it:
- member numbers are 9 digits + a Luhn check digit, unique (a bijection of the index);
  QR tokens random 128-bit base64url; referral codes unique; e-mails and phones unique;
- every member has a sign-up bonus, then purchases spread over the two years since they
  joined (store or online, EUR/GBP/CHF at the demo rates), birthday gifts and some
  redemptions; `balance_after` is the running sum and `Member.balance` the total;
- purchases carry the carats of their ledger entry (key `purchase:<id>`) and the purchase
  facts (first/last purchase, count, spend) on the member match them;
- the tier status is what the rolling 12 months earned; some members sit on a higher
  tier earned earlier (the nightly evaluation downgrades those whose hold has passed) and a
  few on a lower one (it upgrades those);
- birthdays, join dates and last purchases are spread over the days so that every date
  trigger has members due today (birthdays, birthdays next week, joined yesterday, joined
  on this day a year ago, bought yesterday, last bought 180 days ago, tier hold ending in
  30 days)."""

# ruff: noqa: S608 - SQL text is built from table and column names only

from __future__ import annotations

import base64
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import PG, WORK, Timer, connect, manage

DAY = 86400
SPAN_DAYS = 730  # two years of history
TABLES = ("members_member", "members_ledgerentry", "pos_purchase", "tiers_membertier")

FIRST = [
    "Emma",
    "Louise",
    "Olivia",
    "Lucas",
    "Noah",
    "Marie",
    "Julie",
    "Lars",
    "Anna",
    "Sofia",
    "Elise",
    "Victor",
    "Camille",
    "Amelie",
    "Charlotte",
    "Mila",
    "Nora",
    "Jules",
    "Lina",
    "Ines",
    "Arthur",
    "Louis",
    "Adam",
    "Liam",
    "Eva",
    "Lea",
    "Zoe",
    "Hugo",
    "Finn",
    "Sara",
]
LAST = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "DeSmet",
    "Dubois",
    "Lambert",
    "Martin",
    "Smith",
    "Brown",
    "Muller",
    "Meyer",
    "Dupont",
    "Leroy",
    "Vermeulen",
    "Jones",
    "Taylor",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Schmid",
    "Keller",
    "Weber",
    "Huber",
]
# country -> time zone (three zones: trigger selection runs once per zone)
COUNTRIES = [("BE", "Europe/Brussels"), ("NL", "Europe/Brussels"), ("GB", "Europe/London")]
COUNTRIES += [("CH", "Europe/Zurich")]
HOME_STORE = {"BE": "antwerp", "NL": "antwerp", "GB": "london", "CH": "geneva"}
LANGS = ("en", "nl", "fr")
AMOUNTS = ("79.00", "129.00", "249.00", "399.00", "650.00", "890.00", "1450.00", "2900.00")
AMOUNT_WEIGHTS = (30, 25, 18, 12, 7, 4, 3, 1)
BIRTH_FROM = date(1950, 1, 1).toordinal()
WEDDING_FROM = date(1984, 1, 1).toordinal()
RATES = {"EUR": "1.000000", "GBP": "1.170000", "CHF": "1.060000"}

MEMBER_COLS = [
    "id",
    "member_number",
    "email",
    "first_name",
    "last_name",
    "phone",
    "birth_date",
    "wedding_anniversary",
    "language",
    "country",
    "time_zone",
    "source",
    "external_id",
    "joined_at",
    "email_opt_in",
    "email_opt_in_at",
    "sms_opt_in",
    "sms_opt_in_at",
    "qr_token",
    "referral_code",
    "balance",
    "last_activity_at",
    "first_purchase_at",
    "last_purchase_at",
    "purchase_count",
    "lifetime_spend_eur",
    "created_at",
    "updated_at",
    "wallet_live",
]
LEDGER_COLS = [
    "id",
    "member_id",
    "carats",
    "kind",
    "reason",
    "key",
    "balance_after",
    "occurred_at",
    "created_at",
]
PURCHASE_COLS = [
    "id",
    "member_id",
    "channel",
    "store_id",
    "receipt_id",
    "receipt_key",
    "fingerprint",
    "amount",
    "currency",
    "rate_to_eur",
    "amount_eur",
    "occurred_at",
    "carats_awarded",
    "carats_status",
    "earning_reason",
    "balance_after",
    "tier_after",
    "tier_changed",
    "client",
    "created_at",
]
TIER_COLS = ["member_id", "tier_id", "reached_at", "hold_until"]

_REFERRAL_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # members.codes, without O0I1L


def luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


# Member numbers and referral codes: an affine bijection of the member's index (unique
# without a set in memory, and not sequential-looking).
_NUM_MOD, _NUM_MUL = 900_000_000, 611_953  # 611953 is prime, coprime with 2, 3, 5
_REF_MOD, _REF_MUL = 31**8, 1_000_003


def member_number(i: int, offset: int) -> str:
    body = str(100_000_000 + (i * _NUM_MUL + offset) % _NUM_MOD)
    return body + luhn(body)


def referral_code(i: int, offset: int) -> str:
    x = (i * _REF_MUL + offset) % _REF_MOD
    out = []
    for _ in range(8):
        x, r = divmod(x, 31)
        out.append(_REFERRAL_ALPHABET[r])
    return "".join(out)


def email(i: int) -> str:
    return f"m{i:07d}@bench.carat.example"


def phone(i: int) -> str:
    return f"+3247{i:07d}"


def external_id(i: int) -> str | None:
    return f"ERP{i:07d}" if i % 5 < 3 else None


@dataclass
class Program:
    tiers: list  # (id, code, rank, threshold, invite_only)
    stores: dict  # code -> (id, currency)

    @property
    def auto(self):
        return sorted((t for t in self.tiers if not t[4]), key=lambda t: t[2])

    @property
    def ambassador(self):
        return next((t for t in self.tiers if t[4]), None)

    def target(self, carats: int):
        best = self.auto[0]
        for t in self.auto:
            if t[3] <= carats:
                best = t
        return best


@dataclass
class SeedInfo:
    db: str
    now: str
    members: int = 0
    ledger: int = 0
    purchases: int = 0
    lines: int = 0
    member_id_min: int = 0
    member_id_max: int = 0
    number_offset: int = 0
    referral_offset: int = 0
    seconds: dict = field(default_factory=dict)
    sample_file: str = ""


class _Stream:
    """A COPY FROM STDIN on its own connection, fed in ~1 MB blocks."""

    def __init__(self, db: str, table: str, cols: list[str]):
        self.conn = connect(db, autocommit=False)
        self.conn.execute("SET synchronous_commit = off")
        self.cur = self.conn.cursor()
        self._cm = self.cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN")
        self.copy = self._cm.__enter__()
        self.buf: list[str] = []
        self.size = 0
        self.rows = 0

    def add(self, line: str) -> None:
        self.buf.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size > 1 << 20:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.copy.write("".join(self.buf))
            self.buf, self.size = [], 0

    def close(self) -> None:
        self.flush()
        self._cm.__exit__(None, None, None)
        self.conn.commit()
        self.conn.close()


def _ts_formatter(start: datetime):
    """Seconds since `start` -> 'YYYY-MM-DD HH:MM:SS+00' (fast: the days are cached)."""
    days: dict[int, str] = {}

    def fmt(sec: int) -> str:
        d, s = divmod(sec, DAY)
        day = days.get(d)
        if day is None:
            day = days[d] = (start + timedelta(days=d)).strftime("%Y-%m-%d")
        return f"{day} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00"

    return fmt


def _constraints(conn, table: str) -> tuple[list, list, list]:
    """(unique constraints, foreign keys, plain indexes) of `table` as DDL to rebuild."""
    uniques, fks, indexes = [], [], []
    rows = conn.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid), conindid::regclass::text "
        "FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('u', 'f')",
        [table],
    ).fetchall()
    backing = set()
    for name, kind, definition, index in rows:
        if kind == "u":
            idx = conn.execute("SELECT pg_get_indexdef(%s::regclass)", [index]).fetchone()[0]
            uniques.append((name, index, idx))
            backing.add(index)
        else:
            fks.append((name, definition))
    for name, definition in conn.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND NOT indisprimary",
        [table],
    ).fetchall():
        if name not in backing:
            indexes.append((name, definition))
    return uniques, fks, indexes


def _drop_indexes(db: str) -> dict:
    saved = {}
    with connect(db, autocommit=True) as conn:
        for table in TABLES:
            uniques, fks, indexes = _constraints(conn, table)
            saved[table] = (uniques, fks, indexes)
            for name, _ in fks:
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _, _ in uniques:
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {name}")
    return saved


def _rebuild_indexes(db: str, saved: dict) -> None:
    """Indexes in two parallel sessions (2 cores), then the unique constraints on their
    indexes, then the foreign keys (each validated by one join)."""
    jobs = []
    for uniques, _fks, indexes in saved.values():
        jobs += [idx for _, _, idx in uniques] + [d for _, d in indexes]
    # Biggest tables first so the two sessions finish together.
    order = {t: n for n, t in enumerate(("members_ledgerentry", "pos_purchase"))}
    jobs.sort(key=lambda ddl: next((order[t] for t in order if f" {t} " in ddl), 9))
    lock = threading.Lock()
    errors = []

    def worker():
        with connect(db, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            while True:
                with lock:
                    if not jobs:
                        return
                    ddl = jobs.pop(0)
                try:
                    conn.execute(ddl)
                except Exception as exc:
                    errors.append((ddl, exc))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"index rebuild failed: {errors}")
    with connect(db, autocommit=True) as conn:
        for table, (uniques, fks, _indexes) in saved.items():
            for name, index, _ in uniques:
                conn.execute(
                    f'ALTER TABLE {table} ADD CONSTRAINT "{name}" UNIQUE USING INDEX {index}'
                )
            for name, definition in fks:
                conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _time_order(db: str) -> None:
    """Rewrite the ledger and the purchases in the order they were written. A live
    Carat appends both as sales happen, so on disk they lie in time order and one
    member's rows are scattered; the generator writes them member by member. Left in
    member order, the planner sees an index by member that reads each member's rows
    from one page (correlation 1) and prefers plans that a real database would not
    get: the tier job's aggregate by index, for one. Runs before the secondary
    indexes are rebuilt (CLUSTER then rewrites only the primary key)."""
    with connect(db, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table in ("members_ledgerentry", "pos_purchase"):
            conn.execute(f"CREATE INDEX seed_time_order ON {table} (created_at, id)")
            conn.execute(f"CLUSTER {table} USING seed_time_order")
            conn.execute("DROP INDEX seed_time_order")


def _number_offset(conn, n: int) -> int:
    """An offset for the member-number bijection that collides with no existing member."""
    existing = [
        int(x[:9]) for (x,) in conn.execute("SELECT member_number FROM members_member").fetchall()
    ]
    inv = pow(_NUM_MUL, -1, _NUM_MOD)
    rng = random.Random(7)
    while True:
        offset = rng.randrange(_NUM_MOD)
        if all(((b - 100_000_000 - offset) * inv) % _NUM_MOD >= n for b in existing):
            return offset


def _referral_offset(existing: list[str], n: int) -> int:
    """An offset for the referral-code bijection that collides with no existing code."""
    values = []
    for code in existing:
        if len(code) == 8 and all(c in _REFERRAL_ALPHABET for c in code):
            values.append(sum(_REFERRAL_ALPHABET.index(c) * 31**k for k, c in enumerate(code)))
    inv = pow(_REF_MUL, -1, _REF_MOD)
    offset = 12345
    while any(((x - offset) * inv) % _REF_MOD < n for x in values):
        offset += 7919
    return offset


def generate(db: str, prog: Program, n_members: int, n_ledger: int, now: datetime, info: SeedInfo):
    """Stream everything in one pass over the members (four COPYs side by side)."""
    rng = random.Random(20240601)
    start = (now - timedelta(days=SPAN_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    now_s = int((now - start).total_seconds())
    fmt = _ts_formatter(start)
    with connect(db) as conn:
        base_member = conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM members_member"
        ).fetchone()[0]
        ledger_id = conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM members_ledgerentry"
        ).fetchone()[0]
        purchase_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM pos_purchase").fetchone()[
            0
        ]
        offset = _number_offset(conn, n_members)
        taken = [r[0] for r in conn.execute("SELECT referral_code FROM members_member")]
    ref_offset = _referral_offset(taken, n_members)
    info.number_offset = offset
    info.referral_offset = ref_offset
    info.member_id_min = base_member
    streams = {
        "m": _Stream(db, "members_member", MEMBER_COLS),
        "l": _Stream(db, "members_ledgerentry", LEDGER_COLS),
        "p": _Stream(db, "pos_purchase", PURCHASE_COLS),
        "t": _Stream(db, "tiers_membertier", TIER_COLS),
    }
    add_m, add_l, add_p, add_t = (streams[k].add for k in "mlpt")
    store_list = [(code, sid, cur) for code, (sid, cur) in sorted(prog.stores.items())] + [
        ("", None, "EUR")
    ]
    # (amount, currency, rate, eur, carats) per store and amount
    priced = {}
    for code, _sid, cur in store_list:
        for a in AMOUNTS:
            eur = (round(float(a) * 100) * round(float(RATES[cur]) * 1_000_000)) / 1e8
            eur_s = f"{eur:.2f}"
            priced[(code, a)] = (a, cur, RATES[cur], eur_s, int(float(eur_s)))
    year = 365 * DAY
    win_now, win_before = now_s - year, now_s - year - 60 * DAY
    ambassador = prog.ambassador
    entry = prog.auto[0]
    sample = []  # (member id, qr token, member number, email, phone) of some members
    sample_every = max(1, n_members // 100_000)
    written = 0
    extra_rate = 1.35  # non-purchase entries per member (sign-up, birthday, redemptions)
    # 22 base64url characters (132 random bits) per member, like members.codes.
    tokens = base64.urlsafe_b64encode(secrets.token_bytes(17 * n_members)).decode()
    for i in range(n_members):
        mid = base_member + i
        left = n_members - i
        mean_k = max(0.2, (n_ledger - written) / left - extra_rate)
        k = min(int(rng.expovariate(1 / (mean_k + 0.5))), 60)
        joined = rng.randrange(0, now_s - 3600)
        country, zone = rng.choice(COUNTRIES)
        home = HOME_STORE[country]
        events = [(joined, 0, 100)]  # (time, type, carats); 0 sign-up, 1 purchase, 2 birthday
        times = sorted(rng.randrange(joined, now_s) for _ in range(k))
        for t in times:
            events.append((t, 1, 0))
        if rng.random() < 0.15 and now_s - joined > DAY:
            events.append((rng.randrange(joined, now_s), 2, 150))
        events.sort()
        balance = 0
        q_now = q_before = 0
        count, spend_cents = 0, 0
        first_p = last_p = None
        last_activity = joined
        for t, typ, carats in events:
            if typ == 1:
                r = rng.random()
                if r < 0.55:
                    code = home if rng.random() < 0.7 else store_list[rng.randrange(3)][0]
                else:
                    code = ""
                a = rng.choices(AMOUNTS, AMOUNT_WEIGHTS)[0]
                amount, cur, rate, eur, carats = priced[(code, a)]
                balance += carats
                sid = prog.stores[code][0] if code else None
                channel = "store" if code else "online"
                receipt = f"S{purchase_id}"
                ts = fmt(t)
                add_p(
                    f"{purchase_id}\t{mid}\t{channel}\t{sid if sid else chr(92) + 'N'}\t{receipt}\t"
                    f"{channel}:{code or '-'}:{receipt}\t{purchase_id:064x}\t{amount}\t{cur}\t"
                    f"{rate}\t{eur}\t{ts}\t{carats}\tcredited\t{carats} carats\t{balance}\t"
                    f"\t{'false'}\tseed\t{ts}\n"
                )
                add_l(
                    f"{ledger_id}\t{mid}\t{carats}\tpurchase\tPurchase {receipt}\t"
                    f"purchase:{purchase_id}\t{balance}\t{ts}\t{ts}\n"
                )
                purchase_id += 1
                ledger_id += 1
                count += 1
                spend_cents += int(eur.replace(".", ""))
                first_p = first_p if first_p is not None else t
                last_p = t
                if t >= win_now:
                    q_now += carats
                if win_before <= t < now_s - 60 * DAY:
                    q_before += carats
                written += 1
                if balance >= 500 and rng.random() < 0.12 and t + 60 < now_s:
                    balance -= 500
                    t2 = fmt(t + 60)
                    add_l(
                        f"{ledger_id}\t{mid}\t-500\tredemption\tReward: EUR 25 voucher\t"
                        f"redeem:{ledger_id}\t{balance}\t{t2}\t{t2}\n"
                    )
                    ledger_id += 1
                    written += 1
                    t = t + 60
            else:
                balance += carats
                kind, key, reason = (
                    ("action", f"action:signup:{mid}", "Welcome to the club")
                    if typ == 0
                    else ("birthday", f"birthday:{mid}:{t // year}", "Birthday surprise")
                )
                ts = fmt(t)
                add_l(
                    f"{ledger_id}\t{mid}\t{carats}\t{kind}\t{reason}\t{key}\t{balance}\t{ts}\t{ts}\n"
                )
                ledger_id += 1
                written += 1
            last_activity = t
        # Member row.
        bday = date.fromordinal(BIRTH_FROM + rng.randrange(55 * 365)).isoformat()
        wedding = (
            date.fromordinal(WEDDING_FROM + rng.randrange(40 * 365)).isoformat()
            if rng.random() < 0.15
            else "\\N"
        )
        opt = rng.random() < 0.7
        sms = rng.random() < 0.2
        jt = fmt(joined)
        token = tokens[i * 22 : i * 22 + 22]
        number = member_number(i, offset)
        ext = external_id(i)
        add_m(
            f"{mid}\t{number}\t{email(i)}\t{rng.choice(FIRST)}\t{rng.choice(LAST)}\t{phone(i)}\t"
            f"{bday}\t{wedding}\t{rng.choice(LANGS)}\t{country}\t{zone}\t"
            f"{'store' if rng.random() < 0.6 else 'online'}\t{ext or chr(92) + 'N'}\t{jt}\t"
            f"{'true' if opt else 'false'}\t{jt if opt else chr(92) + 'N'}\t"
            f"{'true' if sms else 'false'}\t{jt if sms else chr(92) + 'N'}\t{token}\t"
            f"{referral_code(i, ref_offset)}\t{balance}\t{fmt(last_activity)}\t"
            f"{fmt(first_p) if first_p is not None else chr(92) + 'N'}\t"
            f"{fmt(last_p) if last_p is not None else chr(92) + 'N'}\t{count}\t"
            f"{spend_cents // 100}.{spend_cents % 100:02d}\t{jt}\t{fmt(now_s)}\tfalse\n"
        )
        # Tier status: what the last 12 months earned; some keep a tier earned before
        # (downgraded at night once the hold has passed), a few lag behind (upgraded).
        t_now, t_before = prog.target(q_now), prog.target(q_before)
        r = rng.random()
        if ambassador and r < 0.0005:
            tier, reached = ambassador, rng.randrange(joined, now_s)
        elif t_before[2] > t_now[2] and now_s - joined > 120 * DAY:
            tier = t_before
            reached = rng.randrange(max(joined, now_s - 500 * DAY), now_s - 60 * DAY)
        elif (t_now[2] > entry[2] and r < 0.003) or t_now is entry:
            tier, reached = entry, joined
        else:
            tier, reached = t_now, rng.randrange(max(joined, now_s - year), now_s)
        add_t(f"{mid}\t{tier[0]}\t{fmt(reached)}\t{fmt(min(reached + year, now_s + year))}\n")
        if i % sample_every == 0:
            sample.append((mid, token, number, email(i), phone(i)))
    for s in streams.values():
        s.flush()
    for s in streams.values():
        s.close()
    info.members = n_members
    info.ledger = streams["l"].rows
    info.purchases = streams["p"].rows
    info.member_id_max = base_member + n_members - 1
    return sample


def _purchase_lines(db: str) -> int:
    """One line per seeded purchase, a product of the demo catalog (loaddemo) chosen by a
    multiplicative hash of the purchase id, so members' purchases spread over the
    categories (the category segments have something to find). One INSERT ... SELECT,
    after the indexes are back (the lines table is not dropped and refilled)."""
    with connect(db) as conn:
        cur = conn.execute(
            """
            WITH catalog AS (
                SELECT row_number() OVER (ORDER BY p.id) - 1 AS k, p.id, p.sku, c.code
                FROM campaigns_product p JOIN campaigns_category c ON c.id = p.category_id
            ), n AS (SELECT count(*) AS n FROM catalog)
            INSERT INTO pos_purchaseline (purchase_id, sku, category, quantity, amount,
                service_guarantee, product_id, member_id, occurred_at)
            SELECT s.id, catalog.sku, catalog.code, 1, s.amount, false, catalog.id,
                s.member_id, s.occurred_at
            FROM pos_purchase s CROSS JOIN n
            JOIN catalog ON catalog.k = ((s.id * 2654435761) % 4294967296) % n.n
            WHERE NOT EXISTS (SELECT 1 FROM pos_purchaseline l WHERE l.purchase_id = s.id)
            """
        )
        conn.commit()
        return cur.rowcount


def seed(db: str, n_members: int, n_ledger: int, *, log=print) -> SeedInfo:
    now = datetime.now(UTC).replace(microsecond=0)
    info = SeedInfo(db=db, now=now.isoformat())
    t0 = time.perf_counter()
    with connect("postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    with Timer() as t:
        manage(db, "migrate", "--noinput", debug=True)
        manage(db, "loaddemo", "--members", "0", debug=True)
    info.seconds["migrate+loaddemo"] = round(t.seconds, 1)
    log(f"  migrate + loaddemo: {t.seconds:.1f} s")
    with connect(db) as conn:
        tiers = conn.execute(
            "SELECT id, code, rank, threshold, invite_only FROM tiers_tier ORDER BY rank"
        ).fetchall()
        stores = {
            code: (sid, cur)
            for sid, code, cur in conn.execute(
                "SELECT id, code, currency FROM pos_store"
            ).fetchall()
        }
    prog = Program(tiers=list(tiers), stores=stores)
    with Timer() as t:
        saved = _drop_indexes(db)
    with Timer() as t:
        sample = generate(db, prog, n_members, n_ledger, now, info)
    info.seconds["copy"] = round(t.seconds, 1)
    log(
        f"  COPY {info.members:,} members, {info.ledger:,} ledger entries, "
        f"{info.purchases:,} purchases, {info.members:,} tier statuses: {t.seconds:.1f} s"
    )
    with Timer() as t:
        _time_order(db)
    info.seconds["time order"] = round(t.seconds, 1)
    log(f"  ledger and purchases rewritten in time order: {t.seconds:.1f} s")
    with Timer() as t:
        _rebuild_indexes(db, saved)
    info.seconds["indexes"] = round(t.seconds, 1)
    log(f"  indexes and constraints rebuilt: {t.seconds:.1f} s")
    with Timer() as t:
        info.lines = _purchase_lines(db)
    info.seconds["lines"] = round(t.seconds, 1)
    log(f"  {info.lines:,} purchase lines (one per purchase, demo catalog): {t.seconds:.1f} s")
    with Timer() as t, connect(db, autocommit=True) as conn:
        for table in TABLES[:3]:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.execute("VACUUM (ANALYZE, FREEZE)")
    info.seconds["vacuum"] = round(t.seconds, 1)
    log(f"  VACUUM (ANALYZE, FREEZE): {t.seconds:.1f} s")
    with connect(db) as conn:
        bad = conn.execute(
            """SELECT count(*) FROM members_member m LEFT JOIN (
                   SELECT member_id, sum(carats) s FROM members_ledgerentry GROUP BY member_id
               ) l ON l.member_id = m.id WHERE m.balance <> coalesce(l.s, 0)"""
        ).fetchone()[0]
    if bad:
        raise RuntimeError(f"seed: {bad} members' balance differs from their ledger")
    WORK.mkdir(exist_ok=True)
    path = WORK / f"{db}-members.tsv"
    with open(path, "w") as f:
        for row in sample:
            f.write("\t".join(str(x) for x in row) + "\n")
    info.sample_file = str(path)
    info.seconds["total"] = round(time.perf_counter() - t0, 1)
    log(f"  seeded in {info.seconds['total']:.0f} s (balances match the ledger)")
    return info


def read_sample(path: str | Path) -> list[tuple]:
    rows = []
    for line in Path(path).read_text().splitlines():
        mid, token, number, mail, tel = line.split("\t")
        rows.append((int(mid), token, number, mail, tel))
    return rows


__all__ = ["PG", "SeedInfo", "read_sample", "seed"]
