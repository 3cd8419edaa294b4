"""Writes to the usage ledger."""

from decimal import Decimal

from billing.models import UsageRecord


def usage_record_create(
    *,
    tenant_id: int,
    user_id: int,
    conversation_id: int | None,
    message_id: int | None,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    estimated: bool,
    cost_usd: Decimal,
) -> UsageRecord:
    return UsageRecord.objects.create(
        tenant_id=tenant_id,
        user_id=user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        estimated=estimated,
        cost_usd=cost_usd,
    )
