"""Settings for the test suite: production settings with a throwaway secret and
plain-HTTP cookies (the browser tests talk to a live server over http)."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-insecure-key")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
# The test plugin registers tasks that worker subprocesses need too.
os.environ.setdefault(
    "PLUGINS", "plugins.email_notify,plugins.demo,plugins.metrics,tests.fixtures.apps.testapp"
)

from config.settings import *  # noqa: F403

SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In memory, except where a test points a worker at a real SMTP server (tests/e2e).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# The test database's name (default test_<name>). A test run started by another test run
# (tests/plugins) needs its own, or it would drop the outer run's database.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {  # noqa: F405
        **DATABASES["default"].get("TEST", {}),  # noqa: F405
        "NAME": os.environ["TEST_DATABASE_NAME"],
    }
