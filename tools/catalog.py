"""The tools a tenant's assistant is offered: the built-in ones and the tenant's HTTP tools,
those its ``allowed_tools`` names. Read with the tenant's chat config (``tenants.selectors``)."""

from dataclasses import dataclass
from typing import Any

from tools.models import Tool

SEARCH_KNOWLEDGE = "search_knowledge"
ESCALATE_TO_HUMAN = "escalate_to_human"
CONVERSATION_FACTS = "conversation_facts"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    # An HTTP tool's call; empty for a built-in one.
    url: str = ""
    method: str = ""
    secret: str = ""
    timeout_s: float = 0.0

    @property
    def builtin(self) -> bool:
        return not self.url

    def openai(self) -> dict[str, Any]:
        """The definition the model is given (no URL, no secret)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


BUILTINS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec(
            SEARCH_KNOWLEDGE,
            "Search the company's own documents (its knowledge base) for passages about a topic.",
            {
                "type": "object",
                "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500}},
                "required": ["query"],
                "additionalProperties": False,
            },
        ),
        ToolSpec(
            ESCALATE_TO_HUMAN,
            "Hand this conversation to a human member of the support team, with the reason.",
            {
                "type": "object",
                "properties": {"reason": {"type": "string", "maxLength": 500}},
                "required": ["reason"],
                "additionalProperties": False,
            },
        ),
        ToolSpec(
            CONVERSATION_FACTS,
            "Read this conversation's state: whether it is resolved or escalated, how many messages "
            "it has, when it started.",
            {"type": "object", "properties": {}, "additionalProperties": False},
        ),
    ]
}


def allowed_tools(*, tenant_id: int, allowed: list[str]) -> tuple[ToolSpec, ...]:
    """The tenant's allowed tools, built-in first, by name."""
    names = set(allowed)
    specs = [BUILTINS[name] for name in sorted(names & BUILTINS.keys())]
    http = Tool.objects.for_tenant(tenant_id).filter(name__in=names - BUILTINS.keys()).order_by("name")
    specs += [
        ToolSpec(t.name, t.description, t.parameters, t.url, t.method, t.secret, t.timeout_s) for t in http
    ]
    return tuple(specs)


def known_names(*, tenant_id: int) -> set[str]:
    """What ``allowed_tools`` may name for this tenant."""
    return set(BUILTINS) | set(Tool.objects.for_tenant(tenant_id).values_list("name", flat=True))
