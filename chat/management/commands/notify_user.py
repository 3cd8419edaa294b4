"""``manage.py notify_user --tenant acme --username alice "text"``: a ``notice`` frame on every
chat socket the user has open in that tenant, on whichever instances they are connected to."""

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.frames import notice_frame
from chat.push import push_to_user
from tenants.models import Membership, Tenant


class Command(BaseCommand):
    help = "Push a notice to every open chat socket of one user of one tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("text")

    def handle(self, *args: Any, tenant: str, username: str, text: str, **options: Any) -> None:
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        user = get_user_model().objects.filter(username=username).first()
        if tenant_obj is None or user is None:
            raise CommandError("no such tenant or user")
        if not Membership.objects.for_tenant(tenant_obj).filter(user=user, active=True).exists():
            raise CommandError(f"{username} is not a member of {tenant}")
        async_to_sync(push_to_user)(tenant_id=tenant_obj.pk, user_id=user.pk, frame=notice_frame(text))
        self.stdout.write(f"notice sent to {username} of {tenant}")
