"""Tenant-owned models refuse to be queried without their tenant."""

import pytest
from django.apps import apps

from chat.models import Conversation
from tenants.scoping import TenantOwnedModel, TenantScopeError
from testkit.world import World

pytestmark = pytest.mark.django_db(transaction=True)


# Every tenant-owned model of every app, found, not listed: a new one is covered at once.
TENANT_OWNED = sorted(
    (m for m in apps.get_models() if issubclass(m, TenantOwnedModel)), key=lambda m: m._meta.label
)


def test_every_model_with_a_tenant_is_tenant_owned() -> None:
    with_tenant = {
        m._meta.label for m in apps.get_models() if any(f.name == "tenant" for f in m._meta.fields)
    }
    assert with_tenant == {m._meta.label for m in TENANT_OWNED}
    assert len(TENANT_OWNED) >= 17


@pytest.mark.parametrize("model", TENANT_OWNED, ids=lambda m: m._meta.label)
def test_unscoped_queries_fail_closed(world: World, model: type) -> None:
    with pytest.raises(TenantScopeError):
        list(model.objects.all())
    with pytest.raises(TenantScopeError):
        model.objects.filter(pk=1)
    with pytest.raises(TenantScopeError):
        model.objects.create()


def test_for_tenant_sees_only_that_tenants_rows(world: World) -> None:
    mine = Conversation.objects.create(tenant=world.acme, user=world.alice)
    theirs = Conversation.objects.create(tenant=world.globex, user=world.carol)
    assert list(Conversation.objects.for_tenant(world.acme)) == [mine]
    assert list(Conversation.objects.for_tenant(world.globex.pk)) == [theirs]
    assert not Conversation.objects.for_tenant(world.globex).filter(pk=mine.pk).exists()


@pytest.mark.parametrize("model", TENANT_OWNED, ids=lambda m: m._meta.label)
def test_a_scoped_query_holds_only_its_tenant(world: World, model: type) -> None:
    sql, params = model.objects.for_tenant(world.acme).filter(pk__gt=0).query.sql_with_params()
    assert f'"{model._meta.db_table}"."tenant_id" = %s' in sql and world.acme.pk in params, sql
