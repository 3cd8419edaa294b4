from django.db import migrations

# The tiers' values as this migration wrote them: frozen here, not read from today's
# tenants.seeds, so that this migration never changes when the seeds do.
TIERS = {
    "free": {
        "name": "Free",
        "messages_per_minute": 10,
        "messages_per_hour": 100,
        "max_concurrent_streams": 1,
        "monthly_token_budget": 100_000,
    },
    "professional": {
        "name": "Professional",
        "messages_per_minute": 30,
        "messages_per_hour": 500,
        "max_concurrent_streams": 3,
        "monthly_token_budget": 1_000_000,
    },
    "enterprise": {
        "name": "Enterprise",
        "messages_per_minute": 60,
        "messages_per_hour": 2_000,
        "max_concurrent_streams": 10,
        "monthly_token_budget": 10_000_000,
    },
    "unlimited": {
        "name": "Unlimited",
        "messages_per_minute": 120,
        "messages_per_hour": None,
        "max_concurrent_streams": 25,
        "monthly_token_budget": None,
    },
}


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    Tier = apps.get_model("tenants", "Tier")
    for slug, values in TIERS.items():
        Tier.objects.update_or_create(slug=slug, defaults=values)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
