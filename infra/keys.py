"""Redis key names. Every per-tenant key starts with ``t:{<tenant id>}:``: the braces make the
tenant a Redis Cluster hash tag, so all of one tenant's keys live in one slot and every script
or transaction over them runs there (DESIGN.md "Redis keys"). Platform-wide state starts with
``global:`` and is never touched by a tenant's script in the same call (docs/scaling.md)."""


def tenant_prefix(tenant_id: int | str) -> str:
    """``t:{42}``: what every key of tenant 42 starts with (then ``:`` and the key's own parts)."""
    return f"t:{{{tenant_id}}}"
