"""The turn: one user message from its frame to its answer, for any transport (``runner``).

prepare (rights, config, moderation, routing, curated answers, context: ``prepare``) →
admission of what it may spend (``allowance``) → caches → breaker → a generation of its own
(``generations``) that streams (``stream``: model calls and tool rounds, its text coalesced by
``token_frames``), stores, settles and sends ``done`` whether or not a socket still follows it;
its frames are mirrored to a store (``store``: in Redis or in-process) so a client can resume on any
instance (``follow``), and a generation whose process died is ended by another (``reaper``).
The types it hands from step to step, and their JSON codec, live apart in ``chat.turn``; the
frames it sends are typed and built in ``chat.frames``: what the engine runs on (the caches,
the fallback, the recorder, the outbox) reads them without importing the engine."""
