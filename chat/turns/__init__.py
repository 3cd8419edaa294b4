"""The turn: one user message from its frame to its answer, for any transport (``runner``).

prepare (rights, config, moderation, routing, context) → admission → caches → breaker → a
generation of its own (``generations``) that streams (``stream``), stores, settles and sends
``done`` whether or not a socket still follows it; its frames are mirrored to a store
(``store``, ``redis_store``) so a client can resume on any instance (``follow``), and a
generation whose process died is ended by another (``reaper``). The types it hands from step
to step, and their JSON codec, live apart in ``chat.turn``: what the engine runs on (the caches,
the fallback, the recorder, the outbox) reads them without importing the engine."""
