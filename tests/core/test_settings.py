"""Settings come from the environment, with safe production defaults."""

import os
import subprocess
import sys

from tests.helpers import ROOT, subprocess_env

PRINT = (
    "from django.conf import settings as s;"
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS,"
    " s.EMAIL_BACKEND, s.DATABASES['default']['NAME'])"
)


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _prod_env(**extra):
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings", **extra)
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_BACKEND"):
        env.pop(name, None)
    env.update(extra)
    return env


def test_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _python(PRINT, _prod_env())
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_defaults_are_safe():
    result = _python(PRINT, _prod_env(SECRET_KEY="x" * 50, ALLOWED_HOSTS="example.com"))
    assert result.returncode == 0, result.stderr
    debug, session_secure, csrf_secure, hosts, email, _ = result.stdout.split(" ", 5)
    assert (debug, session_secure, csrf_secure) == ("False", "True", "True")
    assert hosts == "['example.com']"
    assert email == "django.core.mail.backends.smtp.EmailBackend"


def test_development_mode_needs_no_secret_and_uses_console_email():
    result = _python(PRINT, _prod_env(DEBUG="true"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True False False")
    assert "console.EmailBackend" in result.stdout


def test_bad_boolean_is_a_clear_error():
    result = _python(PRINT, _prod_env(DEBUG="maybe"))
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_database_url_is_used_and_nothing_embedded_starts():
    env = _prod_env(DEBUG="true")
    env.pop("ABSURD_CONTROL_QUIET_DB", None)
    result = _python(PRINT, env)
    assert result.returncode == 0, result.stderr
    assert "embedded PostgreSQL" not in result.stderr
    assert result.stdout.strip().endswith(env["DATABASE_URL"].rsplit("/", 1)[1])


def test_non_postgres_database_url_is_refused():
    result = _python(PRINT, _prod_env(DEBUG="true", DATABASE_URL="mysql://u@h/db"))
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_embedded_database_is_announced_with_how_to_use_your_own(tmp_path):
    env = _prod_env(DEBUG="true")
    for name in ("DATABASE_URL", "ABSURD_CONTROL_QUIET_DB"):
        env.pop(name, None)
    result = _python(PRINT, env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "embedded PostgreSQL" in line]
    assert len(lines) == 1
    assert "set DATABASE_URL to use your own server" in lines[0]
    assert os.fspath(ROOT / ".data" / "postgres") in lines[0]
