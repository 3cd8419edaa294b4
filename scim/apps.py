import email_validator
from django.apps import AppConfig


class ScimConfig(AppConfig):
    name = "scim"
    verbose_name = "SCIM provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # scim2-models checks addresses with email-validator, which refuses special-use domains;
        # a company directory holds `corp.local` addresses, and tests `.test` ones. The list is
        # email-validator's documented setting for this.
        for name in ("local", "test"):
            if name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
                email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(name)
