from decimal import Decimal

from django.db import migrations

# The prices as this migration wrote them (USD per 1M tokens: input, output, cached input):
# frozen here, not read from today's billing.seeds, so that this migration never changes.
PRICES = {
    "gpt-4o-mini": ("0.15", "0.60", "0.075"),
    "gpt-4o": ("2.50", "10.00", "1.25"),
    "claude-haiku-4.5": ("0.80", "4.00", "0.08"),
    "claude-sonnet-4.6": ("3.00", "15.00", "0.30"),
    "claude-opus-4.6": ("15.00", "75.00", "1.50"),
    "demo": ("0", "0", "0"),
}


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    price_model = apps.get_model("billing", "ModelPrice")
    for model, (given, written, cached) in PRICES.items():
        price_model.objects.update_or_create(
            model=model,
            defaults={
                "input_per_mtok": Decimal(given),
                "output_per_mtok": Decimal(written),
                "cached_input_per_mtok": Decimal(cached),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
