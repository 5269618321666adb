"""The dashboard's rollups (see loyalty/console/rollup.py)."""

from django.db import models

# Small pre-aggregated facts the console's KPIs read instead of scanning the sales and the
# ledger. Rebuilt as a whole, set-based, by the rollup job; ids of stores, tiers and
# members are plain integers (a rollup never blocks deleting what it counts). Days are
# local days in the program's time zone; tier is the member's tier when the job ran.


class KpiRollupRun(models.Model):
    """One build of the rollups. The dashboard reads the rollups of the latest run while
    it is recent (settings.CARAT_KPI_ROLLUP_MAX_AGE), and the live queries otherwise."""

    as_of = models.DateTimeField(help_text="The rollups count what was committed by then.")
    seconds = models.DecimalField(max_digits=8, decimal_places=2)
    rows = models.JSONField(default=dict)

    class Meta:
        get_latest_by = "as_of"

    def __str__(self):
        return f"KPI rollup as of {self.as_of:%Y-%m-%d %H:%M}"


class KpiSalesDay(models.Model):
    """Sales per local day, store, channel and tier: count, orders (not fully returned),
    gross EUR and the EUR of their returns (a return counts on its sale's day)."""

    day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    tier_id = models.IntegerField(null=True)
    sales = models.IntegerField()
    orders = models.IntegerField()
    gross_eur = models.DecimalField(max_digits=16, decimal_places=2)
    returns_eur = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["day"], name="kpisalesday_day")]

    def __str__(self):
        return f"{self.day} {self.channel} {self.store_id}/{self.tier_id}: {self.sales}"


class KpiActivity(models.Model):
    """Changes, on `day`, of the number of members active (an order in the 12 months
    before) and repeating (orders on two or more days in those 12 months): the KPIs for
    a period ending on day D are the sums of the changes up to D. `level` says which
    sales filters the row is for: '' none, 's' store, 'c' channel, 'sc' both."""

    level = models.CharField(max_length=2)
    day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    tier_id = models.IntegerField(null=True)
    active = models.IntegerField()
    repeating = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["level", "day"], name="kpiactivity_level_day")]

    def __str__(self):
        return f"{self.level or '-'} {self.day}: {self.active:+d} / {self.repeating:+d}"


class KpiFirstOrder(models.Model):
    """A buyer's first order ever and the day of their second (on a later day), one row
    per store and channel of the orders placed at that first moment (`lead` marks one
    row per member)."""

    member_id = models.BigIntegerField()
    first_at = models.DateTimeField()
    first_day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    lead = models.BooleanField()
    second_day = models.DateField(null=True)
    referred = models.BooleanField()
    tier_id = models.IntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["first_at"], name="kpifirstorder_first_at")]

    def __str__(self):
        return f"{self.member_id}: {self.first_day} -> {self.second_day}"


class KpiMembersDay(models.Model):
    """Members per local day of joining, current tier and whether they were referred."""

    day = models.DateField()
    tier_id = models.IntegerField(null=True)
    referred = models.BooleanField()
    members = models.IntegerField()

    def __str__(self):
        return f"{self.day} {self.tier_id}: {self.members}"


class KpiLedgerDay(models.Model):
    """Carats booked per local day (of `created_at`), kind and tier: credits and debits."""

    day = models.DateField()
    kind = models.CharField(max_length=16)
    tier_id = models.IntegerField(null=True)
    credit = models.BigIntegerField()
    debit = models.BigIntegerField()

    def __str__(self):
        return f"{self.day} {self.kind}: +{self.credit} {self.debit}"


class KpiCohort(models.Model):
    """Members who joined in `joined_month` and ordered in `order_month`, by the day from
    which they count (the later of their join day and their first order day in that
    month), so that a period ending mid-month counts only what happened before its end."""

    level = models.CharField(max_length=2)
    joined_month = models.DateField()
    order_month = models.DateField()
    day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    tier_id = models.IntegerField(null=True)
    members = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["level", "joined_month"], name="kpicohort_level_month")]

    def __str__(self):
        return f"{self.joined_month} -> {self.order_month}: {self.members}"


class KpiRollupMark(models.Model):
    """How far a rollup run counted each source table: the highest ids before its snapshot
    (`hi`, by source), and whether every transaction open then had ended before the
    snapshot (`settled`). The hourly run recomputes the members of the rows above the
    newest settled mark (loyalty/console/rollup_state.py)."""

    taken_at = models.DateTimeField()
    hi = models.JSONField(default=dict)
    settled = models.BooleanField()

    def __str__(self):
        return (
            f"KPI rollup mark {self.taken_at:%Y-%m-%d %H:%M:%S}{'' if self.settled else ' (open)'}"
        )
