"""The retroactive-import measurement's data: a CSV of historical orders in the format
`manage.py import_history` documents, and the same rows rendered for COPY into the real
tables (the baseline: new members, purchases, ledger entries, with every index in place).

The CSV: 80 % of the orders belong to seeded members (found by e-mail, or only by their
ERP id, or only by phone), 20 % to new customers (1 to 3 orders each; they become
members); dates over the two years before the launch (half as dates, half as date and
time in the store's zone); stores, the web shop, EUR/GBP/CHF; 0.1 % bad rows (rejected
with their line number)."""

from __future__ import annotations

import csv
import random
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import seed as seedmod
from common import WORK, Timer, connect

STORES = [("antwerp", "EUR"), ("london", "GBP"), ("geneva", "CHF"), ("", "EUR")]
PROGRAM_ZONE = "Europe/Brussels"


def generate(db: str, info: dict, rows: int, launch: datetime) -> dict:
    """Write the CSV and the three COPY files; returns their paths and counts."""
    rng = random.Random(9001)
    n_members = info["members"]
    base_id = info["member_id_min"]
    offset = info["number_offset"]
    with connect(db) as conn:
        next_member = conn.execute("SELECT max(id) + 1 FROM members_member").fetchone()[0]
        next_purchase = conn.execute("SELECT max(id) + 1 FROM pos_purchase").fetchone()[0]
        next_ledger = conn.execute("SELECT max(id) + 1 FROM members_ledgerentry").fetchone()[0]
        stores = dict(conn.execute("SELECT code, id FROM pos_store").fetchall())
        zones = dict(conn.execute("SELECT code, time_zone FROM pos_store").fetchall())
        earn = float(conn.execute("SELECT carats_per_eur FROM campaigns_program").fetchone()[0])
        entry_mult = float(
            conn.execute(
                "SELECT earn_multiplier FROM tiers_tier WHERE NOT invite_only ORDER BY rank LIMIT 1"
            ).fetchone()[0]
        )
        others = {
            r[0]
            for r in conn.execute(
                "SELECT member_number FROM members_member WHERE id < %s", [base_id]
            ).fetchall()
        }
    zone_of = {code: ZoneInfo(zones.get(code) or PROGRAM_ZONE) for code, _ in STORES}
    zone_of[""] = ZoneInfo(PROGRAM_ZONE)
    span = 730 * 86400
    start = launch - timedelta(days=730)
    paths = {
        "csv": WORK / f"{db}-history.csv",
        "members": WORK / f"{db}-history-members.copy",
        "purchases": WORK / f"{db}-history-purchases.copy",
        "ledger": WORK / f"{db}-history-ledger.copy",
    }
    counts = {"rows": 0, "bad": 0, "new_members": 0, "existing": 0}
    new_members: dict[int, dict] = {}  # new customer number -> facts
    pid, lid = next_purchase, next_ledger
    new_customer, new_left = 0, 0
    with (
        open(paths["csv"], "w", newline="") as fcsv,
        open(paths["purchases"], "w") as fp,
        open(paths["ledger"], "w") as fl,
    ):
        w = csv.writer(fcsv)
        w.writerow(
            [
                "order_id",
                "email",
                "phone",
                "external_id",
                "occurred_at",
                "store",
                "amount",
                "currency",
            ]
        )
        for n in range(rows):
            order = f"H{n:08d}"
            code, currency = rng.choice(STORES)
            amount = rng.choices(seedmod.AMOUNTS, seedmod.AMOUNT_WEIGHTS)[0]
            when = start + timedelta(seconds=rng.randrange(span - 86400))
            zone = zone_of[code]
            if rng.random() < 0.5:
                local = when.astimezone(zone).date()
                text = local.isoformat()
                occurred = datetime(local.year, local.month, local.day, 12, tzinfo=zone)
            else:
                local = when.astimezone(zone).replace(tzinfo=None, microsecond=0)
                text = local.isoformat(timespec="seconds")
                occurred = local.replace(tzinfo=zone)
            if rng.random() < 0.001:  # a bad row: rejected by the import, not in the baseline
                w.writerow([order, "not-an-email", "", "", "31/12/2024", code, "-5", currency])
                counts["bad"] += 1
                counts["rows"] += 1
                continue
            if new_left == 0 and rng.random() < 0.2 / 2:  # 20 % of orders, ~2 each
                new_customer += 1
                new_left = rng.choice((1, 2, 3))
            if new_left:
                new_left -= 1
                mail = f"h{new_customer:07d}@import.carat.example"
                ext = f"WEB{new_customer:07d}" if new_customer % 2 else ""
                tel = f"+4420{new_customer:07d}" if new_customer % 3 == 0 else ""
                w.writerow([order, mail, tel, ext, text, code, amount, currency])
                facts = new_members.setdefault(
                    new_customer,
                    {
                        "id": next_member + len(new_members),
                        "email": mail,
                        "ext": ext or None,
                        "phone": tel,
                        "first": occurred,
                        "n": 0,
                    },
                )
                facts["first"] = min(facts["first"], occurred)
                facts["n"] += 1
                member_id = facts["id"]
            else:
                i = rng.randrange(n_members)
                member_id = base_id + i
                how = rng.random()
                ext = seedmod.external_id(i)
                if how < 0.7 or (how < 0.85 and ext is None):
                    w.writerow(
                        [
                            order,
                            seedmod.email(i).upper() if how < 0.05 else seedmod.email(i),
                            "",
                            "",
                            text,
                            code,
                            amount,
                            currency,
                        ]
                    )
                elif how < 0.85:
                    w.writerow([order, "", "", ext, text, code, amount, currency])
                else:
                    w.writerow(
                        [
                            order,
                            "",
                            seedmod.phone(i).replace("+32", "+32 "),
                            "",
                            text,
                            code,
                            amount,
                            currency,
                        ]
                    )
                counts["existing"] += 1
            counts["rows"] += 1
            # The baseline's rows: what the import writes for this order.
            rate = float(seedmod.RATES[currency])
            eur = round(float(amount) * rate + 1e-9, 2)
            carats = int(eur * earn * entry_mult)
            ts = occurred.astimezone(UTC).isoformat()
            key = f"import:{code or '-'}:{order}"
            sid = stores[code] if code else "\\N"
            fp.write(
                f"{pid}\t{member_id}\timport\t{sid}\t{order}\t{key}\t{secrets.token_hex(32)}\t"
                f"{amount}\t{currency}\t{seedmod.RATES[currency]}\t{eur:.2f}\t{ts}\t{carats}\t"
                f"credited\t{carats} for {eur:.2f} EUR (retroactive)\t0\t\tfalse\t"
                f"history import\t{ts}\n"
            )
            if carats > 0:
                fl.write(
                    f"{lid}\t{member_id}\t{carats}\tretroactive\tRetroactive: order {order}\t"
                    f"retro:{key}\t0\t{ts}\t{ts}\n"
                )
                lid += 1
            pid += 1
    # New members (for the baseline): codes that collide with no existing member.
    tokens = seedmod.base64.urlsafe_b64encode(secrets.token_bytes(17 * len(new_members))).decode()
    now = launch.astimezone(UTC).isoformat()
    with open(paths["members"], "w") as fm:
        for k, (_j, f) in enumerate(sorted(new_members.items())):
            idx = n_members + k
            number = seedmod.member_number(idx, offset)
            while number in others:  # pragma: no cover - one chance in a million
                idx += len(new_members)
                number = seedmod.member_number(idx, offset)
            joined = f["first"].astimezone(UTC).isoformat()
            fm.write(
                f"{f['id']}\t{number}\t{f['email']}\t\t\t{f['phone']}\t\\N\t\\N\ten\t\t"
                f"{PROGRAM_ZONE}\timport\t{f['ext'] or chr(92) + 'N'}\t{joined}\tfalse\t\\N\t"
                f"false\t\\N\t{tokens[k * 22 : k * 22 + 22]}\t"
                f"{seedmod.referral_code(idx, info.get('referral_offset', 12345))}\t0\t\\N\t"
                f"{joined}\t\\N\t{f['n']}\t0\t{now}\t{now}\n"
            )
    counts["new_members"] = len(new_members)
    counts["purchases"] = pid - next_purchase
    counts["ledger"] = lid - next_ledger
    return {"paths": {k: str(v) for k, v in paths.items()}, "counts": counts}


def copy_baseline(db: str, paths: dict) -> float:
    """COPY the new members, the purchases and the ledger entries into the real tables
    (all their indexes, constraints and foreign keys in place) in one transaction, then
    roll back. Returns the seconds of the three COPYs."""
    with connect(db) as conn:
        cur = conn.cursor()
        with Timer() as t:
            for table, cols, key in (
                ("members_member", seedmod.MEMBER_COLS, "members"),
                ("pos_purchase", seedmod.PURCHASE_COLS, "purchases"),
                ("members_ledgerentry", seedmod.LEDGER_COLS, "ledger"),
            ):
                with (
                    cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy,
                    open(paths[key], "rb") as f,
                ):
                    while block := f.read(1 << 20):
                        copy.write(block)
            # Deferred foreign keys are checked at commit: check them here.
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        conn.rollback()
    return t.seconds
