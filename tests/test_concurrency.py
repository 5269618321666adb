"""Imports, tills and the nightly job at the same time, on PostgreSQL with real threads."""

import csv
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from pos.imports import history_import
from pos.services import purchase_record
from tests.factories import make_rate
from tests.helpers import run_in_threads
from tiers.services import tiers_evaluate_all

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_import_running_while_tills_post_and_tiers_are_evaluated(enroll, antwerp, tmp_path):
    make_rate("GBP", "1.17")
    members = [enroll(email=f"c{i}@example.com") for i in range(20)]
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
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
        for i in range(2000):
            m = members[i % 20]
            day = (timezone.now() - timedelta(days=30 + i % 300)).date().isoformat()
            w.writerow([f"H{i}", m.email, "", "", day, "antwerp", "10.00", "EUR"])

    def work(i):
        if i == 0:
            return history_import(path_or_file=str(path), dry_run=False)
        if i == 1:
            return tiers_evaluate_all()
        m = members[i % 20]
        return [
            purchase_record(
                member=m,
                channel="store",
                store=antwerp,
                receipt_id=f"T{i}-{n}",
                amount="25.00",
                currency="EUR",
            )
            for n in range(5)
        ]

    results = run_in_threads(work, 8)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    # every till sale and every imported order counted once, balances right everywhere
    for m in members:
        m.refresh_from_db()
    assert sum(m.purchase_count for m in members) == 2000 + 6 * 5
    call_command("verify_ledger")
    # and a second import of the same file awards nothing
    again = history_import(path_or_file=str(path), dry_run=False)
    assert again.purchases_imported == 0
    call_command("verify_ledger")
