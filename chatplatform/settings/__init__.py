"""Settings, split by concern; every value comes from the environment (see README)."""

import django_stubs_ext

django_stubs_ext.monkeypatch()


from .base import *  # noqa: F403, E402
from .celery import *  # noqa: F403, E402
from .data_stores import *  # noqa: F403, E402
from .llm import *  # noqa: F403, E402
from .logs import *  # noqa: F403, E402
