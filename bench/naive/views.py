"""The naive ceiling the scale issue compares Carat's earn with: a minimal DRF view doing
only what pgbench's earn does (insert a ledger row with a unique key, move the balance,
one transaction) through the ORM, with no key check, no throttle, no idempotency, no
member lookup by code, no rules, no tier. Measured by the bench beside Carat's own sale
at each connection count, so that "beats the naive view" is a measurement, not a guess."""

import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from members.models import LedgerEntry, Member


class NaiveEarnView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    renderer_classes = [JSONRenderer]

    def post(self, request):
        member_id, carats = int(request.data["member_id"]), int(request.data["carats"])
        now = timezone.now()
        with transaction.atomic():
            LedgerEntry.objects.create(
                member_id=member_id,
                carats=carats,
                kind=LedgerEntry.Kind.PURCHASE,
                reason="naive earn",
                key=f"naive:{uuid.uuid4()}",
                balance_after=0,
                occurred_at=now,
                created_at=now,
            )
            Member.objects.filter(pk=member_id).update(
                balance=F("balance") + carats, last_activity_at=now
            )
        return Response({"ok": True}, status=201)
