"""The LLM endpoint. Without OPENAI_API_KEY every answer comes from the offline demo model."""

from infra.env import env_float, env_int, env_str

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL") or None
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)
OPENAI_CONNECT_TIMEOUT = env_float("OPENAI_CONNECT_TIMEOUT", 5.0)
OPENAI_READ_TIMEOUT = env_float("OPENAI_READ_TIMEOUT", 60.0)
# Connection pools the requests are spread over (see chat.gateway.llm.openai_provider).
OPENAI_CONNECTION_POOLS = env_int("OPENAI_CONNECTION_POOLS", 8)
# The openai SDK's HTTP transport: "aiohttp" (its DefaultAioHttpClient: less CPU per streamed
# chunk, bench/ws_bench.py --versus OPENAI_HTTP_CLIENT=httpx) or "httpx" (its default).
OPENAI_HTTP_CLIENT = env_str("OPENAI_HTTP_CLIENT", "aiohttp")
if OPENAI_HTTP_CLIENT not in {"aiohttp", "httpx"}:
    raise ValueError(f"OPENAI_HTTP_CLIENT must be 'aiohttp' or 'httpx', not {OPENAI_HTTP_CLIENT!r}")
# Seconds between the demo model's chunks (a realistic ~50 tokens/s by default).
DEMO_MODEL_CHUNK_DELAY = env_float("DEMO_MODEL_CHUNK_DELAY", 0.02)

# Circuit breaker per provider and model (chat.gateway.llm.breaker).
BREAKER_CONSECUTIVE_FAILURES = env_int("BREAKER_CONSECUTIVE_FAILURES", 5)
BREAKER_ERROR_RATE = env_float("BREAKER_ERROR_RATE", 0.5)
BREAKER_MIN_REQUESTS = env_int("BREAKER_MIN_REQUESTS", 20)
BREAKER_WINDOW_S = env_float("BREAKER_WINDOW_S", 60.0)
BREAKER_COOLDOWN_S = env_float("BREAKER_COOLDOWN_S", 30.0)
BREAKER_PROBE_TIMEOUT_S = env_float("BREAKER_PROBE_TIMEOUT_S", 60.0)
