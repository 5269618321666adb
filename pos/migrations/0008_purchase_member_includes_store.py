# The sales' member index carries the store (the client book's "bought at this store" is
# then an index-only probe). On PostgreSQL the new index is built CONCURRENTLY beside the
# old one and swapped in, so sales are neither blocked nor left without the index while a
# large purchase table is indexed; other databases rebuild it plainly.

from django.conf import settings
from django.db import migrations, models

OLD = models.Index(fields=["member", "-occurred_at"], name="purchase_member")
NEW = models.Index(
    fields=["member", "-occurred_at"], include=("store",), name="purchase_member"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS purchase_member_next "
            "ON pos_purchase (member_id, occurred_at DESC) INCLUDE (store_id)"
        )
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS purchase_member")
        schema_editor.execute("ALTER INDEX purchase_member_next RENAME TO purchase_member")
        return
    model = apps.get_model("pos", "Purchase")
    schema_editor.remove_index(model, OLD)
    schema_editor.add_index(model, NEW)


def backwards(apps, schema_editor):
    model = apps.get_model("pos", "Purchase")
    schema_editor.remove_index(model, NEW)
    schema_editor.add_index(model, OLD)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("members", "0011_client_search_indexes"),
        ("pos", "0007_client_contact"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="purchase", name="purchase_member"),
                migrations.AddIndex(model_name="purchase", index=NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
