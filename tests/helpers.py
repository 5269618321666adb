import threading

from django.db import connections
from django.db.models import Sum

from members.models import LedgerEntry, Member


def assert_balance_matches_ledger(member: Member) -> None:
    member.refresh_from_db()
    total = LedgerEntry.objects.filter(member=member).aggregate(s=Sum("carats"))["s"] or 0
    assert member.balance == total
    assert member.balance >= 0


def run_in_threads(fn, n: int) -> list:
    """Run fn(i) in n real threads released at the same moment; each thread has its own
    database connection. Returns each call's result or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # collected for the test to assert on
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results
