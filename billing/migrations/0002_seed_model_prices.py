from django.db import migrations

from billing.seeds import seed_model_prices


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    seed_model_prices(apps.get_model("billing", "ModelPrice"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
