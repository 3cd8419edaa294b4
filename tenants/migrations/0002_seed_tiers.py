from django.db import migrations

from tenants.seeds import seed_tiers


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    seed_tiers(apps.get_model("tenants", "Tier"))


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
