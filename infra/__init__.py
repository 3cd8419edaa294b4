"""The ground floor: what every app stands on and that imports no app and none of the wiring
(``chatplatform``): the database helpers and backend, the Redis clients, metrics, tracing, logs,
memory release, safe JSON, the shared cache, outbound URL checks, the API's parsers and error
pages, the environment's settings readers. ``make test`` checks the rule (import-linter)."""
