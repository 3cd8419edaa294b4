"""What an answer may spend before it starts: its budget reservation (step 4 of DESIGN.md), in
tokens and in cost, tool rounds included, so an answer never overshoots the budget it reserved."""

from billing.admission import Spend
from billing.pricing import Price
from chat.turn import PreparedTurn

# What each tool round may add to the prompt (the calls' arguments and the tools' results).
TOOL_ROUND_TOKENS = 4000


def token_allowance(*, prompt_tokens: int, max_tokens: int, tool_rounds: int) -> int:
    """The tokens an answer may use: its budget reservation. Each tool round is one more model
    call whose prompt grows by the round's calls and results (``TOOL_ROUND_TOKENS`` each, at
    most); an answer never goes past this (no overshoot of the budget)."""
    growth = TOOL_ROUND_TOKENS * tool_rounds * (tool_rounds + 1) // 2
    return (tool_rounds + 1) * (prompt_tokens + max_tokens) + growth


def answer_allowance(*, turn: PreparedTurn, prompt_tokens: int, price: Price) -> Spend:
    """What the answer to ``turn`` may spend, its reservation: ``token_allowance`` tokens, and
    what they cost at ``price`` when each model call writes its ``max_tokens``."""
    max_tokens, rounds = turn.request.max_tokens, turn.tool_rounds
    tokens = token_allowance(prompt_tokens=prompt_tokens, max_tokens=max_tokens, tool_rounds=rounds)
    return Spend(tokens=tokens, cost_usd=price.most(tokens=tokens, output_tokens=(rounds + 1) * max_tokens))
