"""Create (or refresh) the demo tenant, a demo user and a staff admin; print their logins.

Passwords are random and reset on every run, so the printed login always works and no
well-known password ever guards a deployment.
"""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.models import Membership, Role, Tenant, Tier


class Command(BaseCommand):
    help = "Create the demo tenant with a demo user and a staff admin, and print their logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the site runs")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenant, _ = Tenant.objects.get_or_create(
            slug="demo",
            defaults={"name": "Demo Company", "tier": Tier.objects.get(slug="professional")},
        )
        demo_password = self._user("demo", is_staff=False)
        admin_password = self._user("admin", is_staff=True)
        user_model = get_user_model()
        Membership.objects.for_tenant(tenant).get_or_create(
            user=user_model.objects.get(username="demo"), defaults={"tenant": tenant, "role": Role.OWNER}
        )
        url = options["url"].rstrip("/")
        self.stdout.write(
            "\n"
            f"  chat page:   {url}/chat/    login: demo / {demo_password}   (tenant: demo)\n"
            f"  admin:       {url}/admin/   login: admin / {admin_password}\n"
            f"  API docs:    {url}/api/docs/\n"
        )

    def _user(self, username: str, *, is_staff: bool) -> str:
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = is_staff
        user.is_active = True
        user.set_password(password)
        user.save()
        return password
