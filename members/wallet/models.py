import secrets
import uuid

from django.db import models
from django.utils import timezone


def _serial() -> str:
    return uuid.uuid4().hex


def _token() -> str:
    return secrets.token_urlsafe(32)


class WalletPass(models.Model):
    """A member's card in a phone's wallet: one per member, created at the first download.

    `version` is the card's content version in whole seconds since the epoch, strictly
    increasing (a change within the same second still moves it by one): it is the pass's
    Last-Modified and the tag of Apple's "serials updated since". `pending` counts the
    changes not yet pushed: the first change writes one outbox row, the next ones only
    count (coalesced per member) until the worker has pushed."""

    member = models.OneToOneField(
        "members.Member", on_delete=models.CASCADE, related_name="wallet_pass"
    )
    serial = models.CharField(max_length=32, default=_serial)
    auth_token = models.CharField(max_length=64, default=_token)
    version = models.BigIntegerField(default=0)
    pending = models.IntegerField(default=0)
    # The Google Wallet object was handed out in a save link: patch it after changes.
    google_issued_at = models.DateTimeField(null=True, blank=True)
    # Google allows 3 notifications per pass per day: the day and how many were sent.
    google_notify_day = models.DateField(null=True, blank=True)
    google_notify_count = models.SmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["serial"], name="walletpass_serial_unique"),
        ]

    def __str__(self):
        return f"wallet pass {self.serial} ({self.member_id})"


class AppleRegistration(models.Model):
    """A device that added the pass to Apple Wallet and wants its updates pushed."""

    wallet_pass = models.ForeignKey(
        WalletPass, on_delete=models.CASCADE, related_name="registrations"
    )
    device_id = models.CharField(max_length=64)
    push_token = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_id", "wallet_pass"], name="appleregistration_device_pass"
            ),
        ]

    def __str__(self):
        return f"{self.device_id} -> {self.wallet_pass_id}"
