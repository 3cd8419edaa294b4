"""Django's PostgreSQL backend with a connection pool that survives a restart at once
(``infra.postgres.base``): ``ENGINE = "infra.postgres"``."""
