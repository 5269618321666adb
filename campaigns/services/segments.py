"""Writes of segments (the console's builder)."""

from django.db import transaction

from campaigns.models import Segment, SegmentCondition


@transaction.atomic
def segment_conditions_replace(*, segment: Segment, conditions: list[SegmentCondition]) -> None:
    """The segment's conditions as the console's builder defined them (checked there, see
    campaigns.forms.conditions_from_json): the old ones go, the new ones come, together."""
    SegmentCondition.objects.filter(segment=segment).delete()
    for cond in conditions:
        cond.pk, cond.segment = None, segment
    SegmentCondition.objects.bulk_create(conditions)
