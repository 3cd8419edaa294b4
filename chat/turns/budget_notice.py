"""A member's budget nearly spent: once a month, at ``SOFT_LIMIT`` of it, the member gets a
``notice`` frame on every socket and the tenant's owners and admins an e-mail."""

from datetime import UTC

from django.utils import timezone

from billing.tasks import send_budget_warning
from chat.frames import notice_frame
from chat.push import push_to_user
from chat.turn import PreparedTurn
from infra.keys import tenant_prefix
from infra.shared_cache import shared_cache

SOFT_LIMIT = 0.8
_KEEP_S = 40 * 86400  # past the month's end


async def user_budget_check(turn: PreparedTurn, *, used: int) -> bool:
    """``used``: the member's tokens used or held this month, this message's included. True
    when this crossing sent the warning (it is sent once a month, whatever the instances)."""
    budget = turn.user_budget
    if not budget or used < SOFT_LIMIT * budget:
        return False
    month = timezone.now().astimezone(UTC).strftime("%Y-%m")
    key = f"{tenant_prefix(turn.tenant_id)}:budget:{month}:user:{turn.user_id}:warned"
    if not await shared_cache().aadd(key, 1, _KEEP_S):
        return False
    text = (
        f"You have used {used / budget:.0%} of your {budget:,} tokens for this month "
        "in this workspace; when they are spent, messages are refused until the 1st."
    )
    await push_to_user(tenant_id=turn.tenant_id, user_id=turn.user_id, frame=notice_frame(text))
    send_budget_warning.delay(turn.tenant_id, turn.user_id, used, budget)
    return True
