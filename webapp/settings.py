"""Django settings, every one read from the environment (see docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

from webapp.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_group_roles,
    env_int,
    env_list,
    env_networks,
    env_str,
    private_data_dir,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("FLOWDECK_DATA_DIR", str(BASE_DIR / ".flowdeck"))).resolve()
# The data directory holds the embedded database, the secret key, logs and the
# broker's spool: private to the account Flowdeck runs as (0700, files 0600).
private_data_dir(DATA_DIR)

DEBUG = env_bool("FLOWDECK_DEBUG", False)
SECRET_KEY = env_str("FLOWDECK_SECRET_KEY", "")
if not SECRET_KEY:
    # The embedded mode keeps a generated key in its data directory so sessions
    # survive restarts; production sets FLOWDECK_SECRET_KEY.
    _key_file = DATA_DIR / "secret_key"
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = env_list("FLOWDECK_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("FLOWDECK_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "webapp.apps.FlowdeckAdminConfig",  # django.contrib.admin, login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "workflows",
    "accounts",
    "k8s_runner",
    "schedules",
    "interop",
    "notifications",
]

MIDDLEWARE = [
    # First: the health probes answer whatever the Host (a kubelet sends the
    # pod's IP), before the host check and the HTTPS redirect.
    "webapp.probes.ProbeMiddleware",
    # First, so that it times what every other one does too.
    "webapp.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "webapp.nul.RefuseNulMiddleware",
    "webapp.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "webapp.asgi.application"

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
                "accounts.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", "sqlite:///flowdeck.sqlite3"), data_dir=DATA_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "collected-static"
FLOWDECK_SERVE_STATIC = env_bool("FLOWDECK_SERVE_STATIC", True)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workflow-list"
LOGOUT_REDIRECT_URL = "login"

# --- Security (docs/security.md) ------------------------------------------------
# FLOWDECK_SECURE_COOKIES=true says the site is served over HTTPS: cookies are
# Secure, plain HTTP redirects to HTTPS and browsers are told to stay on it.
_HTTPS = env_bool("FLOWDECK_SECURE_COOKIES", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
SECURE_SSL_REDIRECT = env_bool("FLOWDECK_SSL_REDIRECT", _HTTPS)
# Health probes and Prometheus come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int(
    "FLOWDECK_HSTS_SECONDS", 31_536_000 if _HTTPS else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("FLOWDECK_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("FLOWDECK_HSTS_PRELOAD", False)
# Both bind every host of the domain, not just Flowdeck's: an operator opts in
# with the variables above, and `check --deploy` does not nag until then.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# How many reverse proxies in front of Flowdeck append to X-Forwarded-For; 0
# ignores the header (and X-Forwarded-Proto), so clients cannot forge them.
FLOWDECK_TRUSTED_PROXIES = env_int("FLOWDECK_TRUSTED_PROXIES", 0, minimum=0)
if FLOWDECK_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Failed logins per username and client address before a lockout, failed logins
# per client address whatever the usernames, and the window both count in (the
# lockout's length). Every authenticate() is checked by the first backend.
FLOWDECK_LOGIN_MAX_FAILURES = env_int("FLOWDECK_LOGIN_MAX_FAILURES", 5, minimum=1)
FLOWDECK_LOGIN_ADDRESS_MAX_FAILURES = env_int(
    "FLOWDECK_LOGIN_ADDRESS_MAX_FAILURES", 20, minimum=1
)
FLOWDECK_LOGIN_LOCKOUT_SECONDS = env_int(
    "FLOWDECK_LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1
)
AUTHENTICATION_BACKENDS = [
    "accounts.throttling.LoginThrottleBackend",
    # Refuses passwords FLOWDECK_PASSWORD_LOGIN does not allow (below).
    "accounts.oidc.PasswordLoginPolicyBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# --- Single sign-on with OpenID Connect (docs/security.md) ----------------------
# Off while FLOWDECK_OIDC_ISSUER is empty (the default). The provider's
# endpoints come from its discovery document, fetched on first use and kept.
FLOWDECK_OIDC_ISSUER = env_str("FLOWDECK_OIDC_ISSUER", "").rstrip("/")
FLOWDECK_OIDC_CLIENT_ID = env_str("FLOWDECK_OIDC_CLIENT_ID", "")
FLOWDECK_OIDC_CLIENT_SECRET = env_str("FLOWDECK_OIDC_CLIENT_SECRET", "")
FLOWDECK_OIDC_PROVIDER_NAME = env_str("FLOWDECK_OIDC_PROVIDER_NAME", "single sign-on")
FLOWDECK_OIDC_SCOPES = env_str("FLOWDECK_OIDC_SCOPES", "openid email profile")
FLOWDECK_OIDC_USERNAME_CLAIM = env_str(
    "FLOWDECK_OIDC_USERNAME_CLAIM", "preferred_username"
)
FLOWDECK_OIDC_GROUPS_CLAIM = env_str("FLOWDECK_OIDC_GROUPS_CLAIM", "groups")
FLOWDECK_OIDC_GROUP_ROLES = env_group_roles("FLOWDECK_OIDC_GROUP_ROLES")
FLOWDECK_OIDC_CREATE_USERS = env_bool("FLOWDECK_OIDC_CREATE_USERS", True)
# Seconds an ID token's iat/exp may be off the server's clock.
FLOWDECK_OIDC_LEEWAY_SECONDS = env_int("FLOWDECK_OIDC_LEEWAY_SECONDS", 60, minimum=0)
FLOWDECK_OIDC_TIMEOUT_SECONDS = env_float(
    "FLOWDECK_OIDC_TIMEOUT_SECONDS", 10.0, minimum=0.1
)
if FLOWDECK_OIDC_ISSUER and not (
    FLOWDECK_OIDC_CLIENT_ID and FLOWDECK_OIDC_CLIENT_SECRET
):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "FLOWDECK_OIDC_ISSUER is set: FLOWDECK_OIDC_CLIENT_ID and "
        "FLOWDECK_OIDC_CLIENT_SECRET must be too"
    )
# Who may sign in with a password: on (everyone with one), admin (superusers
# only: the local admin keeps a way in when the provider is down), off (no one).
FLOWDECK_PASSWORD_LOGIN = env_choice(
    "FLOWDECK_PASSWORD_LOGIN", "on", ("on", "admin", "off")
)

# Lifetime of the tokens POST /api/auth/token/ makes; 0: they never expire.
FLOWDECK_LOGIN_TOKEN_DAYS = env_int("FLOWDECK_LOGIN_TOKEN_DAYS", 30, minimum=0)

# The largest request body (JSON, YAML, a form) in bytes; the API answers 413
# past it (workflows.api.parsers).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int(
    "FLOWDECK_MAX_BODY_BYTES", 10_485_760, minimum=1024
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        # Refuse deep nesting, duplicate keys, NUL and infinite numbers.
        "workflows.api.parsers.JSONParser",
        "workflows.api.parsers.YAMLParser",
        "workflows.api.parsers.TextYAMLParser",
        "workflows.api.parsers.LegacyYAMLParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "workflows.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flowdeck API",
    "DESCRIPTION": "Author workflows as DAGs and run them on Kubernetes.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: clusters are often air-gapped.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Three status enums share values; name each so the schema keeps them apart.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "flowcore.states.RUN_STATUS_VALUES",
        "TaskStatusEnum": "flowcore.states.TASK_STATUS_VALUES",
        "AttemptStatusEnum": "flowcore.states.ATTEMPT_STATUS_VALUES",
        "ScheduleKindEnum": "schedules.models.Schedule.Kind",
    },
}

# --- Dispatch: Celery, the broker and the runner backend -------------------------
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # The embedded mode's broker: a spool directory instead of Redis. Only user
    # actions travel through it; a finished task launches its successors
    # in-process, so the hot path never waits on this polling interval.
    CELERY_BROKER_TRANSPORT = "webapp.broker:Transport"
    _spool = DATA_DIR / "broker"
    for _folder in ("queue", "control"):
        (_spool / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_spool / "queue"),
        "data_folder_out": str(_spool / "queue"),
        "control_folder": str(_spool / "control"),
        "store_processed": False,
        "polling_interval": env_float(
            "FLOWDECK_BROKER_POLL_SECONDS", 0.1, minimum=0.01
        ),
    }
else:
    # Redis (docs/deployment.md, "When Redis goes away"). A message a worker
    # took but never acknowledged (it was killed) goes back to the queue after
    # the visibility timeout: kombu's default is an hour. Every task here is
    # idempotent and short, and the sweep covers lost work within seconds
    # anyway, so five minutes: long enough that a slow reconcile (a big
    # fan-out launching pods at FLOWDECK_K8S_CREATE_QPS) is not handed to a
    # second worker while the first still runs it (that would be harmless,
    # just wasted work). Delayed wake-ups further away than this are left to
    # the sweep (workflows/services/dispatch.py): a message waiting in a
    # worker for its ETA counts as unacknowledged too.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int(
            "FLOWDECK_BROKER_VISIBILITY_TIMEOUT", 300, minimum=30
        ),
        # A Redis that stops answering is noticed in seconds, not at the
        # kernel's TCP timeout.
        "socket_timeout": 5,
        "socket_connect_timeout": 2,
        "socket_keepalive": True,
        "health_check_interval": 10,
        # Reconnecting publishers (web requests, beat): quick retries within
        # the connect timeout.
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 1,
    }
# How long a worker waits between attempts to reach the broker again (webapp/
# celery.py: Celery's own loop waits 2, 4, ... 30 s, so a worker came back
# 10 to 35 s after Redis did). Attempts are cheap: a refused connection.
FLOWDECK_BROKER_RETRY_MAX_SECONDS = env_float(
    "FLOWDECK_BROKER_RETRY_MAX_SECONDS", 1.0, minimum=0.1
)
CELERY_WORKER_CONSUMER = "webapp.celery:Consumer"
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Forever: a worker that gave up after N attempts would exit and leave the
# restart to its supervisor, which is slower than retrying.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = env_float(
    "FLOWDECK_BROKER_CONNECT_TIMEOUT", 2.0, minimum=0.1
)
# A web request that sends a message to a broker that is down gives up within
# about a second (the run is saved; the sweep dispatches it), instead of
# holding the request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Tasks finish what they do when the broker connection drops: they are short
# and idempotent, and their messages come back after the visibility timeout.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_IGNORE_RESULT = True
# At least once: a message is acknowledged after its task ran, so a worker
# killed mid-task (kill -9, OOM, a node lost) leaves it to be delivered again
# (after the visibility timeout, on Redis). Safe because every task takes ids,
# reloads the rows under their locks and is idempotent (docs/architecture.md);
# acknowledging early would lose that task, and only the sweep would notice.
CELERY_TASK_ACKS_LATE = True
# ...and a child process that dies mid-task (the prefork pool) requeues its
# message at once instead of acknowledging it as failed.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]


def _periodic(task: str, seconds: float) -> dict[str, object]:
    """A beat entry whose message expires after two periods: one no worker
    took in time is replaced by the next, not piled up while workers are down."""
    return {
        "task": task,
        "schedule": seconds,
        "options": {"expires": max(seconds * 2, 10.0)},
    }


CELERY_BEAT_SCHEDULE = {
    "flowdeck-sweep": _periodic(
        "k8s_runner.tasks.sweep",
        env_float("FLOWDECK_SWEEP_SECONDS", 5.0, minimum=0.5),
    ),
    # Fires due schedules (schedules.tasks.tick); safe with several beats. A
    # tick beat could not send (the broker down) is no loss: the next one
    # fires what came due meanwhile, by each schedule's catch-up policy.
    "flowdeck-schedules": _periodic(
        "schedules.tasks.tick",
        env_float("FLOWDECK_SCHEDULE_TICK_SECONDS", 5.0, minimum=0.5),
    ),
    # Delivers notifications whose message was lost or whose retry is due.
    "flowdeck-notifications": _periodic(
        "notifications.tasks.sweep",
        env_float("FLOWDECK_NOTIFY_SWEEP_SECONDS", 5.0, minimum=0.1),
    ),
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Sends only while it leads, with FLOWDECK_LEADER_ELECTION on (webapp/beat.py).
CELERY_BEAT_SCHEDULER = "webapp.beat:LeaderScheduler"

FLOWDECK_BACKEND = env_choice("FLOWDECK_BACKEND", "local", ("local", "kubernetes"))
FLOWDECK_LOCAL_SLOTS = env_int("FLOWDECK_LOCAL_SLOTS", 0, minimum=0)  # 0: CPU count
# Local tasks in a bubblewrap sandbox that cannot see the data directory beyond
# their own run (auto: where bwrap works), and extra directories they may write.
FLOWDECK_LOCAL_SANDBOX = env_choice(
    "FLOWDECK_LOCAL_SANDBOX", "auto", ("auto", "on", "off")
)
FLOWDECK_LOCAL_SANDBOX_PATHS = env_list("FLOWDECK_LOCAL_SANDBOX_PATHS", [])

# --- Data between tasks (docs/spec.md) -----------------------------------------------
# Caps on what a task leaves for its dependants: past one, the attempt ends as
# an Error (OutputTooLarge), never silently cut.
FLOWDECK_OUTPUT_PARAMETER_MAX_BYTES = env_int(
    "FLOWDECK_OUTPUT_PARAMETER_MAX_BYTES", 256 * 1024, minimum=1
)
FLOWDECK_OUTPUT_RESULT_MAX_BYTES = env_int(
    "FLOWDECK_OUTPUT_RESULT_MAX_BYTES", 256 * 1024, minimum=1
)
FLOWDECK_OUTPUT_TASK_MAX_BYTES = env_int(
    "FLOWDECK_OUTPUT_TASK_MAX_BYTES", 1024 * 1024, minimum=1
)
# The most instances one fan-out may have (withItems, withParam, withSequence).
FLOWDECK_MAX_FAN_OUT = env_int("FLOWDECK_MAX_FAN_OUT", 10_000, minimum=1)
# How deep sub-workflows may call sub-workflows (a workflow that reaches itself
# through them is refused when saved; this bounds what changed since).
FLOWDECK_MAX_SUBWORKFLOW_DEPTH = env_int(
    "FLOWDECK_MAX_SUBWORKFLOW_DEPTH", 10, minimum=1
)
# Where output artifacts are kept: "filesystem" (DATA_DIR/artifacts) or "s3".
FLOWDECK_ARTIFACT_STORE = env_choice(
    "FLOWDECK_ARTIFACT_STORE", "filesystem", ("filesystem", "s3")
)
FLOWDECK_ARTIFACT_S3_BUCKET = env_str("FLOWDECK_ARTIFACT_S3_BUCKET", "")
FLOWDECK_ARTIFACT_S3_PREFIX = env_str("FLOWDECK_ARTIFACT_S3_PREFIX", "artifacts/")
FLOWDECK_ARTIFACT_S3_ENDPOINT = env_str("FLOWDECK_ARTIFACT_S3_ENDPOINT", "")
FLOWDECK_ARTIFACT_S3_REGION = env_str("FLOWDECK_ARTIFACT_S3_REGION", "")
FLOWDECK_ARTIFACT_S3_ACCESS_KEY = env_str("FLOWDECK_ARTIFACT_S3_ACCESS_KEY", "")
FLOWDECK_ARTIFACT_S3_SECRET_KEY = env_str("FLOWDECK_ARTIFACT_S3_SECRET_KEY", "")
# Artifacts of runs finished longer ago are deleted by `manage.py gc_artifacts`
# (0: kept for ever).
FLOWDECK_ARTIFACT_RETENTION_DAYS = env_int(
    "FLOWDECK_ARTIFACT_RETENTION_DAYS", 0, minimum=0
)
# Finished runs older than this many days are deleted with their tasks, events
# and logs (workflows.services.run_retention; 0: kept for ever), by a beat
# entry every FLOWDECK_RUN_RETENTION_SECONDS and by `manage.py prune_runs`.
FLOWDECK_RUN_RETENTION_DAYS = env_int("FLOWDECK_RUN_RETENTION_DAYS", 0, minimum=0)
FLOWDECK_RUN_RETENTION_SECONDS = env_float(
    "FLOWDECK_RUN_RETENTION_SECONDS", 600.0, minimum=10.0
)
if FLOWDECK_RUN_RETENTION_DAYS:
    CELERY_BEAT_SCHEDULE["flowdeck-run-retention"] = _periodic(
        "workflows.tasks.prune_runs", FLOWDECK_RUN_RETENTION_SECONDS
    )
FLOWDECK_MAX_TASKS = env_int("FLOWDECK_MAX_TASKS", 10_000, minimum=1)
FLOWDECK_MAX_SPEC_BYTES = env_int(
    "FLOWDECK_MAX_SPEC_BYTES", 8 * 1024 * 1024, minimum=1024
)
# Schedules (docs/schedules.md): the shortest interval a schedule may have.
FLOWDECK_SCHEDULE_MIN_INTERVAL = env_int(
    "FLOWDECK_SCHEDULE_MIN_INTERVAL", 60, minimum=1
)
# A fire time whose run starts later than this is a missed schedule for
# notification rules (docs/operations.md, "Notifications").
FLOWDECK_SCHEDULE_TOLERANCE_SECONDS = env_int(
    "FLOWDECK_SCHEDULE_TOLERANCE_SECONDS", 300, minimum=0
)

# --- The Kubernetes backend (docs/kubernetes.md) ---------------------------------
FLOWDECK_K8S_NAMESPACE = env_str("FLOWDECK_K8S_NAMESPACE", "default")
# Empty: $KUBECONFIG or ~/.kube/config, else the in-cluster service account.
FLOWDECK_K8S_KUBECONFIG = env_str("FLOWDECK_K8S_KUBECONFIG", "")
FLOWDECK_K8S_CONTEXT = env_str("FLOWDECK_K8S_CONTEXT", "")
FLOWDECK_K8S_DELETE_GRACE_SECONDS = env_int(
    "FLOWDECK_K8S_DELETE_GRACE_SECONDS", 30, minimum=0
)
FLOWDECK_K8S_IMAGE_PULL_GRACE_SECONDS = env_float(
    "FLOWDECK_K8S_IMAGE_PULL_GRACE_SECONDS", 120.0, minimum=0.0
)
FLOWDECK_K8S_CREATE_QPS = env_float("FLOWDECK_K8S_CREATE_QPS", 20.0, minimum=0.0)
FLOWDECK_K8S_CREATE_BURST = env_int("FLOWDECK_K8S_CREATE_BURST", 40, minimum=1)
FLOWDECK_K8S_KEEP_FINISHED_PODS_SECONDS = env_float(
    "FLOWDECK_K8S_KEEP_FINISHED_PODS_SECONDS", 0.0, minimum=0.0
)
FLOWDECK_K8S_WATCH_TIMEOUT_SECONDS = env_int(
    "FLOWDECK_K8S_WATCH_TIMEOUT_SECONDS", 300, minimum=1
)
FLOWDECK_K8S_ALLOW_PRIVILEGED = env_bool("FLOWDECK_K8S_ALLOW_PRIVILEGED", False)

# --- Leader election of the pod watcher and the beat (docs/deployment.md) -------
# off: one replica each (the embedded mode); kubernetes: a coordination.k8s.io
# Lease in FLOWDECK_K8S_NAMESPACE; database: a row in PostgreSQL.
FLOWDECK_LEADER_ELECTION = env_choice(
    "FLOWDECK_LEADER_ELECTION", "off", ("off", "kubernetes", "database")
)
FLOWDECK_LEADER_LEASE_SECONDS = env_float(
    "FLOWDECK_LEADER_LEASE_SECONDS", 15.0, minimum=0.1
)
FLOWDECK_LEADER_RENEW_SECONDS = env_float(
    "FLOWDECK_LEADER_RENEW_SECONDS", 10.0, minimum=0.1
)
FLOWDECK_LEADER_RETRY_SECONDS = env_float(
    "FLOWDECK_LEADER_RETRY_SECONDS", 2.0, minimum=0.05
)
# Flowdeck's own image, run beside tasks with outputs or input artifacts (its
# helper containers); keep it the image this deployment runs.
FLOWDECK_K8S_HELPER_IMAGE = env_str("FLOWDECK_K8S_HELPER_IMAGE", "flowdeck:latest")
# A Secret (in every namespace tasks run in) with the S3 artifact store's
# `accessKey` and `secretKey` for those containers; empty: the pod's identity.
FLOWDECK_K8S_ARTIFACT_SECRET = env_str("FLOWDECK_K8S_ARTIFACT_SECRET", "")

# --- Cache: login throttling, API rate limits -------------------------------------
# Per process without Redis; production shares one through REDIS_URL so a
# lockout holds across every web server.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "flowdeck",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Channels -------------------------------------------------------------------
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Live updates (docs/live.md). With Redis, the process that commits a change
# publishes its events to every web process; without it (the embedded mode,
# where the worker is another process) each web process tails the RunEvent table.
FLOWDECK_LIVE_PUSH = bool(REDIS_URL)
FLOWDECK_LIVE_TAIL_SECONDS = env_float("FLOWDECK_LIVE_TAIL_SECONDS", 0.2, minimum=0.01)
# How often a connected run page double-checks the event log, in case a
# published message was lost (a Redis restart, say).
FLOWDECK_LIVE_RESYNC_SECONDS = env_float(
    "FLOWDECK_LIVE_RESYNC_SECONDS", 5.0, minimum=0.1
)
FLOWDECK_WS_TICKET_SECONDS = env_int("FLOWDECK_WS_TICKET_SECONDS", 60, minimum=1)

# --- Notifications (docs/operations.md) --------------------------------------------
# Links in notifications point here (the address people open Flowdeck at).
FLOWDECK_BASE_URL = env_str("FLOWDECK_BASE_URL", "http://localhost:8000")
FLOWDECK_NOTIFY_MAX_ATTEMPTS = env_int("FLOWDECK_NOTIFY_MAX_ATTEMPTS", 8, minimum=1)
# The first retry's wait, doubled for each further one (at most an hour).
FLOWDECK_NOTIFY_RETRY_SECONDS = env_float(
    "FLOWDECK_NOTIFY_RETRY_SECONDS", 10.0, minimum=0.01
)
FLOWDECK_NOTIFY_TIMEOUT_SECONDS = env_float(
    "FLOWDECK_NOTIFY_TIMEOUT_SECONDS", 10.0, minimum=0.1
)
# Email through Django's SMTP backend.
EMAIL_HOST = env_str("FLOWDECK_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("FLOWDECK_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("FLOWDECK_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("FLOWDECK_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("FLOWDECK_EMAIL_STARTTLS", False)
EMAIL_USE_SSL = env_bool("FLOWDECK_EMAIL_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("FLOWDECK_EMAIL_FROM", "flowdeck@localhost")

# --- Metrics (docs/operations.md) -------------------------------------------------
# GET /metrics (and the workers' and the watcher's FLOWDECK_METRICS_PORT) answer
# a client from one of these networks, or one that sends this bearer token;
# nobody when neither is set (the embedded mode opens it to loopback).
FLOWDECK_METRICS_TOKEN = env_str("FLOWDECK_METRICS_TOKEN", "")
FLOWDECK_METRICS_ALLOWED_NETWORKS = env_networks(
    "FLOWDECK_METRICS_ALLOWED_NETWORKS", []
)
# The port a Celery worker or the pod watcher serves its metrics on (0: none).
FLOWDECK_METRICS_PORT = env_int("FLOWDECK_METRICS_PORT", 0, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("FLOWDECK_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Authlib logs the PKCE verifier at DEBUG: never, whatever the level.
        "authlib": {"level": "WARNING"},
    },
}
