"""A tenant's HTTP tools: what the model may call to look things up in the tenant's systems.
Which tools (these and the built-in ones) a tenant's assistant is offered is the tenant's
``allowed_tools``."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from infra.outbound import validate_outbound_url
from tenants.scoping import TenantOwnedModel

# OpenAI's rule for function names.
NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class Tool(TenantOwnedModel):
    class Method(models.TextChoices):
        GET = "GET"
        POST = "POST"

    name = models.CharField(max_length=64, validators=[RegexValidator(NAME_PATTERN)])
    description = models.TextField(help_text="what the tool does and when to use it: the model reads this")
    # The JSON Schema of the arguments (an object); the model's arguments are validated against it.
    parameters = models.JSONField(default=dict)
    url = models.URLField(max_length=500, validators=[validate_outbound_url])
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.POST)
    # Signs each call (HMAC-SHA256 of the timestamp and the body): the tenant's server checks it.
    secret = models.CharField(max_length=200)
    timeout_s = models.FloatField(default=10.0, validators=[MinValueValidator(0.5), MaxValueValidator(30.0)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tool_name_per_tenant")]

    def __str__(self) -> str:
        return self.name
