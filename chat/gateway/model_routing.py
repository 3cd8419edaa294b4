"""Model routing: a rule-based classifier sorts each message into simple / moderate / complex,
and the tenant maps each class to a model (a class it does not map uses its default model).

The rules look at features of the message alone (length, code, questions, wording) and take
a few microseconds; they err towards the stronger model when unsure.
"""

import re
from enum import StrEnum

from tenants.selectors import ChatConfig


class Route(StrEnum):
    SIMPLE = "simple"
    MODERATE = "moderate"
    COMPLEX = "complex"


_CODE = re.compile(r"```|Traceback \(most recent call last\)|\b(?:def|class|function|SELECT|import)\b\s")
_COMPLEX_WORDS = re.compile(
    r"\b(?:explain|why|compare|comparison|analy[sz]e|analysis|design|architecture|debug|optimi[sz]e|"
    r"implement|refactor|step[- ]by[- ]step|trade-?offs?|pros and cons|strategy|evaluate|migrate|"
    r"troubleshoot|root cause|in detail)\b",
    re.IGNORECASE,
)
_SMALL_TALK = re.compile(
    r"^\s*(?:hi|hello|hey|thanks|thank you|thx|ok(?:ay)?|yes|no|bye|good (?:morning|evening|night)|"
    r"great|cool|got it)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")


def classify(text: str) -> Route:
    words = len(_WORD.findall(text))
    if _CODE.search(text) or words > 150:
        return Route.COMPLEX
    complex_words = len(_COMPLEX_WORDS.findall(text))
    if complex_words >= 2 or (complex_words and words > 40):
        return Route.COMPLEX
    if _SMALL_TALK.match(text) and words <= 12:
        return Route.SIMPLE
    if words <= 15 and not complex_words and text.count("?") <= 1:
        return Route.SIMPLE
    return Route.MODERATE


# The route of a message that was not sorted (a regenerated answer): the default model gives it.
UNROUTED = ""


def route_model(config: ChatConfig, text: str) -> tuple[str, str]:
    """The message's class and the model that answers it (the default one when the tenant maps
    no model to the class, or has turned routing off: its messages are still sorted, so the
    console shows what routing would do)."""
    route = classify(text)
    return route.value, config.routing.get(route.value, config.model)
