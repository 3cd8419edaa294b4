"""Web: apps, middleware, auth, templates, static files, the REST API."""

from datetime import timedelta
from pathlib import Path

from infra.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
# The embedded default has no secret to keep; a production deployment must set SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY") or "insecure-embedded-default-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The reverse proxies (addresses or networks) whose X-Forwarded-For is believed (infra.proxies);
# none by default: the client is the socket's peer.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

# Behind a TLS-terminating proxy (nginx, a load balancer): cookies only over HTTPS.
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tenants",
    "billing",
    "chat",
    "knowledge",
    "tools",
    "alerts",
    "widget",
    "inbox",
    "audit",
    "webhooks",
    "sso",
    "scim",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "infra.acting.ActorMiddleware",  # who changes what (the audit log)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "infra.csp.ContentSecurityPolicyMiddleware",
]

X_FRAME_OPTIONS = "DENY"  # with the CSP's frame-ancestors 'none', for older browsers
SECURE_CONTENT_TYPE_NOSNIFF = True
ROOT_URLCONF = "chatplatform.urls"
ASGI_APPLICATION = "chatplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Every password sign-in is throttled (tenants.sign_in, tenants.attempts): past
# SIGN_IN_FAILURES_PER_USERNAME or SIGN_IN_FAILURES_PER_ADDRESS failures in SIGN_IN_WINDOW_S,
# sign-ins are refused until the window ends; so is account creation by a tenant admin who met
# USERNAME_TAKEN_PER_ACTOR taken usernames.
# Passwords (with the tenants' "SSO only" rule), then the sessions identity providers signed in.
AUTHENTICATION_BACKENDS = ["sso.backends.PasswordBackend", "sso.backends.ProviderBackend"]
SIGN_IN_FAILURES_PER_USERNAME = env_int("SIGN_IN_FAILURES_PER_USERNAME", 5)
SIGN_IN_FAILURES_PER_ADDRESS = env_int("SIGN_IN_FAILURES_PER_ADDRESS", 30)
SIGN_IN_WINDOW_S = env_int("SIGN_IN_WINDOW_S", 900)
USERNAME_TAKEN_PER_ACTOR = env_int("USERNAME_TAKEN_PER_ACTOR", 10)
# An invitation to join a tenant (tenants.invitations) can be accepted this long.
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:page"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The widget speaks its site's language (widget.strings); the catalogues live here.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Files users attach to chat messages (chat.files): the local file system by default
# (MEDIA_ROOT/attachments), an S3-compatible bucket when S3_BUCKET is set. Keys begin with the
# tenant; downloads go through the API (a short-lived signed URL on S3).
MEDIA_ROOT = env_str("MEDIA_ROOT") or str(BASE_DIR / "media")
S3_BUCKET = env_str("S3_BUCKET")
_ATTACHMENTS: dict[str, object] = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env_int("S3_URL_EXPIRE_S", 300),
            "file_overwrite": False,
            "signature_version": "s3v4",
        },
    }
    if S3_BUCKET
    else {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(Path(MEDIA_ROOT) / "attachments"), "base_url": None},
    }
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": _ATTACHMENTS,
}
# Daphne serves static files itself unless a proxy (nginx) does it in front of it.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.TenantJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bodies nested deeper than safe_json.MAX_DEPTH or holding a NUL / lone surrogate are a 400.
    "DEFAULT_PARSER_CLASSES": [
        "infra.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.json_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `?format=csv|json` chooses an export's format; DRF would read it as a renderer override.
    "URL_FORMAT_OVERRIDE": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
    # A refresh answers a new refresh token too and blacklists the one it used; a logout
    # blacklists the current one, a password change all of the user's (tenants.logins).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a hash of the password: a password change refuses those issued before.
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "chatplatform management API",
    "DESCRIPTION": (
        "Tenants, members, invitations, conversations, usage, analytics and experiments. "
        "Authorize with an access token from auth/token/ (bearer), or the chat page's session."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from this server's static files, pinned with the package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Two choice sets are called "role": a member's and a message's.
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "tenants.models.Role",
        "MessageRoleEnum": "chat.models.Role",
        "WebhookEventEnum": "tenants.events.EVENT_NAMES",
        # The roles an identity provider's groups may give (SSO's default role, SCIM groups').
        "DefaultRoleEnum": "tenants.models.PROVIDER_ROLES",
    },
}

# Generations (chat.turns): an answer outlives its socket. Nobody attached for the orphan grace:
# cancelled. Its frames are kept for resuming while it runs (at most CHAT_GENERATION_MAX_S, the
# last CHAT_GENERATION_MAX_FRAMES frames) and CHAT_GENERATION_KEEP_S after its end. A client_id
# being prepared is held CHAT_CLAIM_TTL_S at most.
CHAT_ORPHAN_GRACE_S = env_float("CHAT_ORPHAN_GRACE_S", 60.0)
CHAT_GENERATION_KEEP_S = env_float("CHAT_GENERATION_KEEP_S", 300.0)
CHAT_GENERATION_MAX_S = env_float("CHAT_GENERATION_MAX_S", 3600.0)
CHAT_GENERATION_MAX_FRAMES = env_int("CHAT_GENERATION_MAX_FRAMES", 20_000)
CHAT_CLAIM_TTL_S = env_float("CHAT_CLAIM_TTL_S", 60.0)
# Turns the database could not take as their answer ended (chat.history.outbox): replayed every
# OUTBOX_RETRY_S while some wait, looked for every OUTBOX_IDLE_S (another instance's, left by a
# crash); one instance at a time replays a tenant's, under a lock of OUTBOX_LOCK_S.
OUTBOX_RETRY_S = env_float("OUTBOX_RETRY_S", 2.0)
OUTBOX_IDLE_S = env_float("OUTBOX_IDLE_S", 30.0)
OUTBOX_LOCK_S = env_float("OUTBOX_LOCK_S", 60.0)
# Off only for measurements (bench/ws_bench.py --mirror off): frames are not copied to the store.
CHAT_STREAM_MIRROR = env_bool("CHAT_STREAM_MIRROR", True)

# A new conversation has an id, not a row, until its first message (chat.history.pending); a
# reconnect to it finds it for this long.
CHAT_PENDING_CONVERSATION_S = env_int("CHAT_PENDING_CONVERSATION_S", 86_400)
# Chat protocol limits (DESIGN.md, WebSocket protocol v1).
CHAT_MAX_FRAME_BYTES = 32 * 1024
CHAT_TOKEN_FRAME_INTERVAL_MS = env_int("CHAT_TOKEN_FRAME_INTERVAL_MS", 40)
# Working memory (chat.history.working_memory): the last messages of a conversation, kept in Redis this long.
CHAT_HISTORY_MESSAGES = env_int("CHAT_HISTORY_MESSAGES", 20)
CHAT_MEMORY_TTL_S = env_float("CHAT_MEMORY_TTL_S", 7200.0)
# Messages left out of a rolling summary, so the latest exchanges are sent word for word.
CHAT_SUMMARY_KEEP_RECENT = env_int("CHAT_SUMMARY_KEEP_RECENT", 6)
# Summaries and titles due within this many seconds go to Celery as one task (one batch: its
# reads, then its completions at once, at most BACKGROUND_CONCURRENCY at a time, then its writes).
BACKGROUND_BATCH_WINDOW_S = env_float("BACKGROUND_BATCH_WINDOW_S", 0.5)
BACKGROUND_BATCH_MAX = env_int("BACKGROUND_BATCH_MAX", 50)
BACKGROUND_CONCURRENCY = env_int("BACKGROUND_CONCURRENCY", 8)

# Links in e-mails (escalations) point here.
SITE_URL = (env_str("SITE_URL") or "http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "chatplatform <no-reply@localhost>"
EMAIL_HOST = env_str("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# With no EMAIL_HOST the e-mails are written to the log (console), not lost in a refused SMTP call.
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH") or None
# The server pings every interval and closes (4408) a connection whose pong is late.
CHAT_PING_INTERVAL_S = env_float("CHAT_PING_INTERVAL_S", 30.0)
CHAT_PONG_TIMEOUT_S = env_float("CHAT_PONG_TIMEOUT_S", 10.0)
# Entries the semantic cache keeps per tenant scope (model + system prompt + config version).
SEMANTIC_CACHE_MAX_ENTRIES = env_int("SEMANTIC_CACHE_MAX_ENTRIES", 10_000)
# On SIGTERM, how long answers in flight may go on before they are cancelled (chat.drain).
CHAT_DRAIN_TIMEOUT_S = env_float("CHAT_DRAIN_TIMEOUT_S", 120.0)
# After MEMORY_RELEASE_AFTER_CLOSED sockets have closed and none for MEMORY_RELEASE_QUIET_S (at most
# MEMORY_RELEASE_MAX_WAIT_S later), the instance frees their memory (infra.memory).
MEMORY_RELEASE_AFTER_CLOSED = env_int("MEMORY_RELEASE_AFTER_CLOSED", 100)
MEMORY_RELEASE_QUIET_S = env_float("MEMORY_RELEASE_QUIET_S", 5.0)
MEMORY_RELEASE_MAX_WAIT_S = env_float("MEMORY_RELEASE_MAX_WAIT_S", 60.0)
# The chat page's WebSocket uses the session cookie, so its Origin must be one we serve.
CHAT_ALLOWED_ORIGINS = env_list("CHAT_ALLOWED_ORIGINS", [])

# The website widget (widget.identity): how long an anonymous visitor's token lasts, how far ahead
# a tenant's identity token may expire, and how many new visitors one address may start per site
# and hour (each a user row: a loop of fresh visitors is refused).
WIDGET_VISITOR_TOKEN_DAYS = env_int("WIDGET_VISITOR_TOKEN_DAYS", 180)
WIDGET_IDENTITY_MAX_LIFETIME_S = env_int("WIDGET_IDENTITY_MAX_LIFETIME_S", 86_400)
WIDGET_NEW_VISITORS_PER_ADDRESS_PER_HOUR = env_int("WIDGET_NEW_VISITORS_PER_ADDRESS_PER_HOUR", 30)
# New end users one API key may name on the chat socket per clock hour (tenants.end_users).
API_KEY_NEW_END_USERS_PER_HOUR = env_int("API_KEY_NEW_END_USERS_PER_HOUR", 1000)

# Limits (billing.admission). Off only for measurements (bench/ws_bench.py --limits off).
LIMITS_ENABLED = env_bool("LIMITS_ENABLED", True)
# 0 turns the platform-wide rate limit off.
GLOBAL_MESSAGES_PER_MINUTE = env_int("GLOBAL_MESSAGES_PER_MINUTE", 0)
# A socket's slot (billing.sockets) is renewed with each heartbeat ping; it lapses this long after.
SOCKET_LEASE_TTL_S = env_float("SOCKET_LEASE_TTL_S", 3 * CHAT_PING_INTERVAL_S + CHAT_PONG_TIMEOUT_S)
# A stream slot lapses this long after its process stopped renewing it.
STREAM_LEASE_TTL_S = env_float("STREAM_LEASE_TTL_S", 30.0)
# A budget reservation that is never settled lapses after this long.
BUDGET_RESERVATION_TTL_S = env_float("BUDGET_RESERVATION_TTL_S", 900.0)
LIMITS_REDIS_TIMEOUT = env_float("LIMITS_REDIS_TIMEOUT", 1.0)
# Connections the hot path's Redis client may open per process; past it, calls wait (up to
# LIMITS_REDIS_TIMEOUT) for a free one.
REDIS_POOL_MAX = env_int("REDIS_POOL_MAX", 256)

# Bearer token that /metrics requires when set (leave empty on a private network).
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Tools (the tools app): tenants' HTTP tools are called over HTTPS, on public addresses only.
# TOOLS_ALLOW_HTTP and TOOLS_ALLOW_LOOPBACK are for tests and development, never production.
TOOLS_ALLOW_HTTP = env_bool("TOOLS_ALLOW_HTTP", False)
TOOLS_ALLOW_LOOPBACK = env_bool("TOOLS_ALLOW_LOOPBACK", False)

# Single sign-on (sso): the identity providers' documents are fetched with this timeout and size
# cap, and kept this long (a key id not in the kept set fetches the keys again).
SSO_HTTP_TIMEOUT_S = env_float("SSO_HTTP_TIMEOUT_S", 10.0)
SSO_MAX_RESPONSE_BYTES = env_int("SSO_MAX_RESPONSE_BYTES", 1_000_000)
SSO_METADATA_TTL_S = env_int("SSO_METADATA_TTL_S", 3600)
TOOLS_MAX_RESPONSE_BYTES = env_int("TOOLS_MAX_RESPONSE_BYTES", 65_536)
# Webhooks (webhooks.services): each POST's time limit, and how many deliveries in a row may fail
# (every retry spent) before the endpoint is turned off.
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 10.0)
WEBHOOK_DISABLE_AFTER = env_int("WEBHOOK_DISABLE_AFTER", 10)

# Files read for their text (knowledge documents, attachments: knowledge.extract) are read in a
# child process with these limits: memory, CPU time, wall time, and the text it may give back.
FILE_READER_MEMORY_MB = env_int("FILE_READER_MEMORY_MB", 1024)
FILE_READER_CPU_S = env_int("FILE_READER_CPU_S", 30)
FILE_READER_TIMEOUT_S = env_float("FILE_READER_TIMEOUT_S", 60.0)
FILE_READER_MAX_CHARS = env_int("FILE_READER_MAX_CHARS", 50_000_000)
# A document still pending this long after it was added (its worker died, its retries ran out)
# is failed by the beat's sweep (knowledge.tasks.fail_stuck_documents); it can be read again.
KNOWLEDGE_PENDING_MAX_S = env_int("KNOWLEDGE_PENDING_MAX_S", 1800)
