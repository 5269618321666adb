"""Nothing is lost between a commit and the broker: the outbox."""

from datetime import timedelta
from unittest import mock

from django.core import mail
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from loyalty.kernel.models import OutboxTask
from loyalty.kernel.outbox import outbox_flush
from members.services import member_invite


def test_task_is_published_after_commit(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        member_invite(member=member)
    row = OutboxTask.objects.get()
    assert row.published_at is not None
    assert len(mail.outbox) == 1


def test_nothing_is_published_when_the_transaction_rolls_back(
    member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                member_invite(member=member)
                raise RuntimeError("the request failed after the invitation")
        except RuntimeError:
            pass
    assert mail.outbox == []
    assert not OutboxTask.objects.exists()


def test_broker_down_keeps_the_task_and_the_flush_sends_it_when_back(
    member, django_capture_on_commit_callbacks
):
    from members.tasks import send_account_email as task

    with mock.patch.object(task, "apply_async", side_effect=OperationalError("broker down")):
        with django_capture_on_commit_callbacks(execute=True):
            member_invite(member=member)  # the request still succeeds
        row = OutboxTask.objects.get()
        assert row.published_at is None and row.attempts == 1 and "broker down" in row.last_error
        assert outbox_flush(older_than=timedelta(0)) == 0  # still down
    assert mail.outbox == []
    OutboxTask.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    assert outbox_flush() == 1
    assert len(mail.outbox) == 1
    assert outbox_flush() == 0  # published once
