"""Every number a client sends the REST API is bounded by its column and its meaning (issue 30,
7): the OpenAPI schema's integer and number fields are walked, each given 2^63 and -1 (or what
lies just past its bounds), and each is refused with a 400 that names it, never a 500. Ids in
paths and numbers in query strings past a bigint get a 4xx too."""

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from testkit.world import World, client_for

BIG = 2**63
# Within these a JavaScript client holds an integer exactly: the most any field may declare,
# except ids (bigint columns).
JS_SAFE = 2**53 - 1
BIGINT = 2**63 - 1

# One valid body per collection whose items the walk changes; the walk creates one of each.
CREATE = {
    "/api/v1/tools/": {
        "name": "crm_lookup",
        "description": "Look a customer up.",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
        "url": "https://crm.acme.test/lookup",
        "secret": "s" * 32,
    },
    "/api/v1/experiments/": {
        "name": "shorter answers",
        "variants": [{"name": "control", "is_control": True, "weight": 50}, {"name": "b", "weight": 50}],
    },
    "/api/v1/knowledge/curated/": {"questions": ["How do I reset my password?"], "answer": "In Settings."},
    "/api/v1/sites/": {"name": "Online shop", "allowed_domains": ["shop.example.com"]},
}


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def numeric_fields(schema: dict[str, Any], node: dict[str, Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """(path of property names, where ``[]`` is an array's item; its schema) of every writable
    number in a request body, nested ones included."""
    node = resolve(schema, node)
    found: list[tuple[list[str], dict[str, Any]]] = []
    for part in node.get("allOf", []) + node.get("oneOf", []) + node.get("anyOf", []):
        found += numeric_fields(schema, part)
    if node.get("type") == "array" and "items" in node:
        found += [(["[]", *path], field) for path, field in numeric_fields(schema, node["items"])]
    for name, field in node.get("properties", {}).items():
        if field.get("readOnly"):
            continue
        if field.get("type") in ("integer", "number"):
            found.append(([name], field))
        found += [([name, *path], inner) for path, inner in numeric_fields(schema, field)]
    return found


def body_with(path: list[str], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    return [body_with(rest, value)] if head == "[]" else {head: body_with(rest, value)}


def outside(field: dict[str, Any]) -> list[Any]:
    values: list[Any] = [BIG, -1] if field["type"] == "integer" else [1e300, -1e300]
    if "minimum" in field and field["minimum"] > 0:
        values.append(field["minimum"] - 1 if field["type"] == "integer" else field["minimum"] / 2)
    if "maximum" in field:
        values.append(field["maximum"] + 1)
    low, high = field.get("minimum"), field.get("maximum")
    return [v for v in values if low is None or v < low or (high is not None and v > high)]


@pytest.fixture
def api(world: World) -> tuple[dict[str, Any], APIClient]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema, client_for(world.token(world.alice, world.acme))


def concrete(owner: APIClient, world: World, template: str) -> str:
    """The path with ``{slug}`` the owner's tenant and ``{id}`` one of the collection's items."""
    path = template.replace("{slug}", world.acme.slug)
    if "{id}" not in path:
        return path
    collection = path[: path.index("{id}")]
    if collection.endswith("/members/"):
        item = world.bob.memberships.get().pk
    else:
        if collection in CREATE:
            created = owner.post(collection, CREATE[collection], format="json")
            assert created.status_code == 201, created.content
        listed = owner.get(collection).json()
        items = listed["results"] if isinstance(listed, dict) else listed
        assert items, f"add a body to CREATE for {collection}"
        item = items[0]["id"]
    return path.replace("{id}", str(item))


def test_no_numeric_field_is_unbounded(api: tuple[dict[str, Any], APIClient]) -> None:
    schema, _ = api
    unbounded = []
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                for path, field in numeric_fields(schema, media["schema"]):
                    most = BIGINT if path[-1] in ("id", "message_id") else JS_SAFE
                    if not (field.get("minimum", -BIG) >= -JS_SAFE and field.get("maximum", BIG) <= most):
                        unbounded.append(f"{method} {template} {'.'.join(path)}: {field}")
    assert not unbounded, "\n".join(sorted(set(unbounded)))


def test_every_numeric_field_refuses_what_lies_past_it(
    world: World, api: tuple[dict[str, Any], APIClient]
) -> None:
    schema, owner = api
    tried = 0
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            fields = numeric_fields(schema, content["application/json"]["schema"])
            if not fields:
                continue
            url = concrete(owner, world, template)
            for path, field in fields:
                within = field.get("minimum", 0)
                answered = getattr(owner, method)(url, body_with(path, within), format="json")
                assert answered.status_code < 500, (method, url, path, within, answered.content)
                for value in outside(field):
                    response = getattr(owner, method)(url, body_with(path, value), format="json")
                    tried += 1
                    assert response.status_code == 400, (method, url, path, value, response.content)
                    assert path[0] in str(response.json()), (method, url, path, value, response.json())
    assert tried >= 40


def test_ids_and_query_numbers_past_a_bigint_are_refused_or_not_found(
    world: World, api: tuple[dict[str, Any], APIClient]
) -> None:
    schema, owner = api
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "delete") or "{slug}" in template:
                continue
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            numbers = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p["schema"].get("type") == "integer"
            ]
            for value in (BIG, -1):
                url = re.sub(r"\{id\}", str(BIG), template)
                params = dict.fromkeys(numbers, value) if query else {}
                response = getattr(owner, method)(url, params)
                assert response.status_code in (200, 400, 404), (method, url, params, response.content)
