"""What an import reports: counts, rejected rows with their reason, timings; the
report's last step counts the tiers."""


# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from .validation import _reason

MAX_REJECTIONS = 100  # rejected rows kept in the report with their reason (first by line)


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    dry_run: bool
    launch: datetime
    rows_read: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    members_matched: int = 0
    members_created: int = 0
    purchases_imported: int = 0
    purchases_skipped: int = 0
    carats_awarded: int = 0
    amount_eur: Decimal = Decimal("0.00")
    tiers_upgraded: int = 0
    tiers_downgraded: int = 0
    tier_counts: dict[str, int] = field(default_factory=dict)
    tier_counts_imported: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary_lines(self, *, max_rejections: int = 20) -> list[str]:
        head = "DRY RUN — nothing was written" if self.dry_run else "Import done"
        lines = [
            f"{head} (tiers as of {timezone.localtime(self.launch):%Y-%m-%d %H:%M %Z}, "
            f"{self.seconds:.1f} s)",
            f"rows read:            {self.rows_read}",
            f"rejected:             {self.rejected}",
        ]
        for code, count in sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {REASON_TITLES.get(code, code)}: {count}")
        lines += [
            f"members matched:      {self.members_matched}",
            f"members created:      {self.members_created}",
            f"purchases imported:   {self.purchases_imported}",
            f"skipped (already imported): {self.purchases_skipped}",
            f"carats awarded:       {self.carats_awarded} (for {self.amount_eur} EUR)",
            f"tier upgrades:        {self.tiers_upgraded}"
            + (f", downgrades: {self.tiers_downgraded}" if self.tiers_downgraded else ""),
            "tiers of the imported members: " + _counts(self.tier_counts_imported),
            "tiers of all members:          " + _counts(self.tier_counts),
        ]
        if self.rejections and max_rejections:
            shown = self.rejections[:max_rejections]
            lines.append(f"first {len(shown)} rejected row(s):")
            lines += [f"  line {r.line}: {r.reason}" for r in shown]
        return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


REASON_TITLES = {
    "missing_order_id": "missing order id",
    "order_id_too_long": "order id too long",
    "no_customer": "no customer identifier",
    "bad_email": "invalid e-mail",
    "external_id_too_long": "external id too long",
    "phone_too_long": "phone too long",
    "unknown_store": "unknown store code",
    "bad_date": "bad date",
    "future_date": "dated in the future",
    "negative_amount": "negative amount",
    "zero_amount": "zero amount",
    "bad_amount": "bad amount",
    "unknown_currency": "unknown currency",
    "no_rate": "no exchange rate at the date",
    "amount_too_large": "amount too large",
    "duplicate": "duplicate order in the file",
    "email_conflict": "e-mail with several external ids",
    "external_id_conflict": "external id with several e-mails",
    "no_member": "no member and no e-mail to create one",
    "erased_member": "the member's account is erased",
}


def collect_report(imp) -> None:
    report = imp.report
    report.rejected, report.purchases_skipped = imp.one(
        "SELECT count(*) FILTER (WHERE reason IS NOT NULL), "
        "count(*) FILTER (WHERE reason IS NULL AND already) FROM imp_rows"
    )
    imp.cur.execute(
        "SELECT reason, count(*) FROM imp_rows WHERE reason IS NOT NULL GROUP BY reason"
    )
    report.rejected_by_reason = dict(imp.cur.fetchall())
    imp.cur.execute(
        """
        SELECT line, reason, order_id, email, external_id, store_code, occurred_text,
               to_char(occurred_at AT TIME ZONE tz, 'YYYY-MM-DD'), amount_text, currency,
               dup_of, length(phone)
        FROM imp_rows WHERE reason IS NOT NULL ORDER BY line LIMIT %(n)s
        """,
        {"n": MAX_REJECTIONS},
    )
    report.rejections = [Rejection(row[0], _reason(*row[1:])) for row in imp.cur.fetchall()]
    imported, carats, eur, matched = imp.one(
        """
        SELECT count(*), coalesce(sum(n.carats_awarded), 0),
               coalesce(sum(n.amount_eur), 0.00),
               count(DISTINCT n.member_id) FILTER (WHERE c.id IS NULL)
        FROM imp_new n LEFT JOIN imp_created c ON c.id = n.member_id
        """
    )
    report.purchases_imported, report.carats_awarded = imported, carats
    report.amount_eur, report.members_matched = eur, matched
    tier_counts = """
        SELECT t.name, count(*) FROM {membertier} s JOIN {tier} t ON t.id = s.tier_id
        {where} GROUP BY t.name, t.rank ORDER BY t.rank
    """
    imp.cur.execute(tier_counts.format(where="", **imp.tables))
    report.tier_counts = dict(imp.cur.fetchall())
    imp.cur.execute(
        tier_counts.format(
            where="WHERE s.member_id IN (SELECT member_id FROM imp_bal)", **imp.tables
        )
    )
    report.tier_counts_imported = dict(imp.cur.fetchall())
    imp._timed("report")
