"""Django's PostgreSQL backend with a connection pool that survives a restart at once
(``chatplatform.postgres.base``): ``ENGINE = "chatplatform.postgres"``."""
