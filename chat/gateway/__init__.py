"""The LLM gateway: what stands between a prepared turn and the model. Moderation (blocked
topics, PII), model routing, the exact and semantic response caches, the circuit breaker with its
fallback model, and the providers (``chat.gateway.llm``: any OpenAI-compatible endpoint, or the
offline demo model)."""
