"""The context sent upstream with a question: the tenant's system prompt with the conversation's
rolling summary, then as many of the recent messages the summary does not cover as fit the
model's context budget (``ModelPrice.context_tokens``), newest kept first, then the question.

Tokens are counted with ``chat.gateway.llm.tokens`` (about four characters per token: no tokenizer can
be fetched at run time); the budget keeps a margin for that.
"""

from dataclasses import dataclass
from typing import Any

from chat.gateway.llm.tokens import MESSAGE_OVERHEAD, estimate_tokens
from chat.history.working_memory import Remembered

SUMMARY_HEADING = "Summary of the conversation so far:"
# The estimate is rough: a tenth of the budget stays unused.
_MARGIN = 0.9


@dataclass(frozen=True, slots=True)
class Context:
    messages: list[dict[str, Any]]
    tokens: int  # estimated, of everything sent
    overflow: bool  # recent messages the summary does not cover were left out: summarize now


def system_message(prompt: str, summary: str, knowledge: str = "") -> str:
    """The tenant's prompt, then the knowledge-base passages for this question, then the summary."""
    parts = [prompt, knowledge, f"{SUMMARY_HEADING}\n{summary}" if summary else ""]
    return "\n\n".join(part for part in parts if part)


# What the model is told each stored role is: an agent of the tenant answered as the assistant does
# (the model picks up the conversation where the human left it).
_MODEL_ROLES = {"agent": "assistant"}


def build_context(
    *,
    system_prompt: str,
    summary: str,
    summary_upto_id: int | None,
    history: list[Remembered],
    question: str,
    budget_tokens: int,
    knowledge: str = "",
) -> Context:
    system = system_message(system_prompt, summary, knowledge)
    used = estimate_tokens(system) + estimate_tokens(question) + 2 * MESSAGE_OVERHEAD + 2
    available = int(budget_tokens * _MARGIN) - used
    uncovered = [m for m in history if m.content and (summary_upto_id is None or m.id > summary_upto_id)]
    kept: list[Remembered] = []
    for message in reversed(uncovered):
        cost = estimate_tokens(message.content) + MESSAGE_OVERHEAD
        if cost > available:
            break
        kept.append(message)
        available -= cost
        used += cost
    messages = [
        {"role": "system", "content": system},
        *({"role": _MODEL_ROLES.get(m.role, m.role), "content": m.content} for m in reversed(kept)),
        {"role": "user", "content": question},
    ]
    return Context(messages=messages, tokens=used, overflow=len(kept) < len(uncovered))
