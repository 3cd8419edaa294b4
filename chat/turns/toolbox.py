"""The tools of one turn: the tenant's allowed tools (``tools.catalog``), with the built-in ones
bound to this turn's tenant, user and conversation."""

import json
from typing import Any

from django.utils import timezone

from chat.selectors import ConversationNotFound, conversation_state_facts
from chat.support import escalate
from chat.turn import ChatSession, PreparedTurn
from infra.db import in_db_thread
from knowledge.retrieval import retrieve
from tenants.selectors import ChatConfig
from tools.catalog import CONVERSATION_FACTS, ESCALATE_TO_HUMAN, SEARCH_KNOWLEDGE
from tools.execute import BuiltinHandler, ToolBox

SEARCH_BUDGET_TOKENS = 1500


def turn_toolbox(turn: PreparedTurn, config: ChatConfig) -> ToolBox | None:
    if not config.tools:
        return None
    return ToolBox(
        tenant_slug=turn.tenant_slug,
        specs=config.tools,
        builtins=_builtins(turn),
        show_arguments=config.show_tool_arguments,
    )


def _builtins(turn: PreparedTurn) -> dict[str, BuiltinHandler]:
    async def search_knowledge(arguments: dict[str, Any]) -> str:
        passages = await in_db_thread(retrieve)(
            tenant_id=turn.tenant_id, question=arguments["query"], budget_tokens=SEARCH_BUDGET_TOKENS, k=5
        )
        return json.dumps(
            [{"title": p.title, "heading": p.heading, "text": p.text} for p in passages], ensure_ascii=False
        )

    async def escalate_to_human(arguments: dict[str, Any]) -> str:
        session = ChatSession(
            tenant_id=turn.tenant_id,
            tenant_slug=turn.tenant_slug,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            role="",
        )
        notified = await in_db_thread(escalate)(
            session=session, reason=arguments["reason"], now=timezone.now()
        )
        return json.dumps({"escalated": True, "team_notified": notified})

    async def conversation_facts(arguments: dict[str, Any]) -> str:
        try:
            facts = await in_db_thread(conversation_state_facts)(
                tenant_id=turn.tenant_id, user_id=turn.user_id, conversation_id=turn.conversation_id
            )
        except ConversationNotFound:
            facts = {"messages": 0}
        return json.dumps(facts)

    return {
        SEARCH_KNOWLEDGE: search_knowledge,
        ESCALATE_TO_HUMAN: escalate_to_human,
        CONVERSATION_FACTS: conversation_facts,
    }
