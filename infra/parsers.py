"""The API's JSON parser: DRF's, with the platform's bounds (``infra.safe_json``), so a
deep or unstorable body is a 400 before any view or serializer sees it."""

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from infra import safe_json


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return safe_json.loads(stream.read().decode(encoding))
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}") from None
        except safe_json.UnsafeJSON as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
