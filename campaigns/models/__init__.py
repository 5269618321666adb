"""The program's tables, one module per part of the program (as in services/): the program
and its earning rules, rewards and clubs, lifecycle gifts, challenges, and the CRM's
segments, mails and message log."""

from .catalog import (
    Category,
    PopularProduct,
    Product,
)
from .challenges import (
    Badge,
    Challenge,
    ChallengeEnrolment,
)
from .crm import (
    Broadcast,
    MailTexts,
    MailVariant,
    MessageLog,
    Segment,
    SegmentCondition,
    Trigger,
    TriggerConfig,
)
from .earning import (
    ActionRule,
    ActionType,
    Award,
    EarningRule,
    HeldCarats,
    MonthWeek,
    Period,
    Repeat,
    RuleBase,
)
from .lifecycle import (
    BirthdayGift,
)
from .program import (
    Program,
)
from .rewards import (
    Club,
    ClubMembership,
    Giveaway,
    Rental,
    Reward,
    Voucher,
)

__all__ = [
    "ActionRule",
    "ActionType",
    "Award",
    "Badge",
    "BirthdayGift",
    "Broadcast",
    "Category",
    "Challenge",
    "ChallengeEnrolment",
    "Club",
    "ClubMembership",
    "EarningRule",
    "Giveaway",
    "HeldCarats",
    "MailTexts",
    "MailVariant",
    "MessageLog",
    "MonthWeek",
    "Period",
    "PopularProduct",
    "Product",
    "Program",
    "Rental",
    "Repeat",
    "Reward",
    "RuleBase",
    "Segment",
    "SegmentCondition",
    "Trigger",
    "TriggerConfig",
    "Voucher",
]
