"""``tenants/{slug}/config/`` by role and tenant, and the staff admin's pages and actions."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client

from tenants.admin import TenantForm
from tenants.models import Experiment, Tenant, Variant
from testkit.world import PASSWORD, World, client_for


def test_owners_read_and_change_their_config_others_cannot(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    before = owner.get("/api/v1/tenants/acme/config/").json()
    assert before["system_prompt"] == "You are Acme's assistant."
    changed = owner.patch(
        "/api/v1/tenants/acme/config/",
        {"blocked_topics": ["lawsuit"], "pii_filter": True, "temperature": 0.3},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["config_version"] == before["config_version"] + 1
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.blocked_topics == ["lawsuit"] and tenant.pii_filter and tenant.temperature == 0.3
    invalid = owner.patch("/api/v1/tenants/acme/config/", {"temperature": 7}, format="json")
    assert invalid.status_code == 400 and "temperature" in invalid.json()["errors"]
    # Limits are not the tenant's to change: unknown fields are ignored, the tier stays.
    owner.patch("/api/v1/tenants/acme/config/", {"messages_per_minute_override": 10_000}, format="json")
    assert Tenant.objects.get(slug="acme").messages_per_minute_override is None

    assert (
        client_for(world.token(world.bob, world.acme)).get("/api/v1/tenants/acme/config/").status_code == 403
    )
    other = client_for(world.token(world.carol, world.globex))
    assert other.get("/api/v1/tenants/acme/config/").status_code == 404
    assert (
        other.patch("/api/v1/tenants/acme/config/", {"pii_filter": False}, format="json").status_code == 404
    )
    staff = client_for(world.token(world.staff, None))
    assert staff.get("/api/v1/tenants/globex/config/").status_code == 200


def test_a_model_without_a_price_is_refused_in_the_config_and_the_admin(world: World) -> None:
    """Its answers would be billed nothing: platform staff price a model before tenants use it."""
    owner = client_for(world.token(world.alice, world.acme))
    for field in ("model", "fallback_model", "routing_model_complex"):
        refused = owner.patch("/api/v1/tenants/acme/config/", {field: "gpt-4.1"}, format="json")
        assert refused.status_code == 400 and "gpt-4.1" in refused.json()["errors"][field][0], field
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.model, tenant.fallback_model, tenant.routing_model_complex) == ("gpt-4o-mini", "", "")
    priced = owner.patch(
        "/api/v1/tenants/acme/config/", {"model": "gpt-4o", "fallback_model": "demo"}, format="json"
    )
    assert priced.status_code == 200, priced.json()

    tenant.refresh_from_db()
    tenant.routing_model_simple = "gpt-4.1"
    with pytest.raises(ValidationError) as refusal:
        tenant.full_clean()  # what the admin's form runs
    assert list(refusal.value.message_dict) == ["routing_model_simple"]


def test_the_admin_pages_open_and_experiments_are_validated(world: World) -> None:
    admin_user = get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)
    browser = Client()
    browser.force_login(admin_user)
    for page in [
        "tenants/tenant",
        "tenants/tier",
        "tenants/membership",
        "tenants/experiment",
        "billing/modelprice",
        "billing/usagerecord",
        "chat/conversation",
        "tenants/tenant/add",
        "tenants/experiment/add",
    ]:
        assert browser.get(f"/admin/{page}/").status_code == 200, page

    form = {
        "tenant": world.acme.pk,
        "name": "bad weights",
        "description": "",
        "active": "on",
        "variants-TOTAL_FORMS": "2",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-name": "control",
        "variants-0-is_control": "on",
        "variants-0-weight": "50",
        "variants-1-name": "b",
        "variants-1-weight": "40",
    }
    refused = browser.post("/admin/tenants/experiment/add/", form)
    assert refused.status_code == 200 and b"sum to 100" in refused.content
    assert not Experiment.objects.for_tenant(world.acme.pk).exists()
    created = browser.post("/admin/tenants/experiment/add/", {**form, "variants-1-weight": "50"})
    assert created.status_code == 302
    experiment = Experiment.objects.for_tenant(world.acme.pk).get()
    assert Variant.objects.filter(experiment=experiment).count() == 2

    browser.post(
        "/admin/tenants/experiment/", {"action": "end_experiment", "_selected_action": [experiment.pk]}
    )
    experiment.refresh_from_db()
    assert not experiment.active and experiment.ended_at is not None
    browser.post("/admin/tenants/tenant/", {"action": "deactivate", "_selected_action": [world.globex.pk]})
    assert not Tenant.objects.get(pk=world.globex.pk).active


def test_the_admin_edits_lists_as_lines_and_picks_models_from_the_price_table(world: World) -> None:
    """Staff type ``bitcoin``, not a JSON list; the model is a choice among priced ones; members are
    found by username; an experiment's variants are laid out one under the other."""
    lists = {
        "blocked_topics": "bitcoin\n forex \n\n",
        "starter_prompts": "Where is my order?",
        "allowed_image_hosts": "",
    }
    models = {
        "model": "gpt-4o",
        "fallback_model": "",
        "routing_model_simple": "",
        "routing_model_moderate": "",
    }
    data = {"pii_keep_patterns": "", "allowed_tools": "", "routing_model_complex": "", **lists, **models}
    form = TenantForm(data=data, instance=world.acme)
    assert form.is_valid(), form.errors
    tenant = form.save()
    assert (tenant.blocked_topics, tenant.starter_prompts, tenant.model) == (
        ["bitcoin", "forex"],
        ["Where is my order?"],
        "gpt-4o",
    )
    assert not TenantForm(data={**data, "model": "gpt-4.1"}, instance=world.acme).is_valid()  # no price

    admin_user = get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(f"/admin/tenants/tenant/{world.acme.pk}/change/").content.decode()
    assert "bitcoin\nforex</textarea>" in page and '<select name="model"' in page
    assert "admin-autocomplete" in page  # members are found by username
    variants = browser.get("/admin/tenants/experiment/add/").content.decode().split('id="variants-group"')[1]
    assert "inline-related" in variants[:2000] and "tabular" not in variants[:400]
