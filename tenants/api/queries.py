"""Query-string serializers shared by the API's reports."""

from typing import Any

from rest_framework import serializers


class FromToQuery(serializers.Serializer):
    """Optional ``from`` and ``to`` dates. ``from`` is a Python keyword: the field is declared as
    ``from_`` and renamed here; subclasses add their own fields, defaults and checks."""

    from_ = serializers.DateField(required=False)
    to = serializers.DateField(required=False)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields
