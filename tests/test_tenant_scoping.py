"""Tenant-owned models refuse to be queried without their tenant."""

import pytest

from billing.models import UsageRecord
from chat.models import Conversation, Message
from tenants.models import Membership
from tenants.scoping import TenantScopeError
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("model", [Conversation, Message, UsageRecord, Membership])
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
