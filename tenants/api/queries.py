"""Query-string serializers shared by the API's reports."""

from datetime import date, timedelta
from typing import Any

from django.core.validators import MaxValueValidator
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

# Reports end at the day after ``to``, so the last day a query names must have a next one.
_LAST_DAY = MaxValueValidator(date.max - timedelta(days=1))


class Pages(PageNumberPagination):
    """The API's lists: 50 a page by default, ``page_size`` up to 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class FromToQuery(serializers.Serializer):
    """Optional ``from`` and ``to`` dates. ``from`` is a Python keyword: the field is declared as
    ``from_`` and renamed here; subclasses add their own fields, defaults and checks."""

    from_ = serializers.DateField(required=False, validators=[_LAST_DAY])
    to = serializers.DateField(required=False, validators=[_LAST_DAY])

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields
