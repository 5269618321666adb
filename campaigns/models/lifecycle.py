"""Lifecycle: birthday gifts."""

from django.db import models
from django.utils import timezone

from members.models import Member

from .rewards import Voucher


class BirthdayGift(models.Model):
    """The claim that a member got this year's birthday gift (at most one per year)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="birthday_gifts")
    year = models.PositiveSmallIntegerField()
    carats = models.PositiveIntegerField(default=0)
    voucher = models.ForeignKey(Voucher, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "year"], name="birthday_once_a_year")
        ]

    def __str__(self):
        return f"{self.member_id} {self.year}"
