"""A covering index for the nightly tier evaluation (an index-only scan of the statuses in
member order). Built CONCURRENTLY on PostgreSQL: at 17 million statuses a plain CREATE
INDEX would hold up every tier move of the sales for the time it takes. Covering indexes
exist only on PostgreSQL; other databases get none, as Django itself would do."""

from django.db import migrations, models

INDEX = models.Index(fields=["member"], include=["tier", "hold_until"], name="membertier_cover")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS membertier_cover "
            "ON tiers_membertier (member_id) INCLUDE (tier_id, hold_until)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS membertier_cover")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("members", "0007_lean_sale_indexes"),
        ("tiers", "0002_invitation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="membertier", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
