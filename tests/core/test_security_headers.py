"""Response headers that protect signed-in data and approval tokens (issue 14, items 11, 12, 16).

- ``Cache-Control: no-store`` on every signed-in page, every API answer to a request with
  credentials and every approval page; static files stay cacheable.
- A Content-Security-Policy on every HTML page, and pages that need nothing it forbids: no
  inline script or event handler, no style attribute; on the approval pages not even a nonce.
- ``check --deploy --fail-level WARNING`` passes with docs/deploy.md's environment; the health
  check answers over plain HTTP while every other path is redirected to HTTPS.
- With DEBUG off, a 5xx leaves its traceback on stderr.
"""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path, reverse

from absurd_core import engine, spawn
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.approvals.conftest import make_request  # noqa: F401  (a fixture)
from tests.helpers import ROOT, database_url, subprocess_env

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"


def directives(response) -> dict[str, list[str]]:
    """The response's CSP as {directive: [sources]}."""
    assert CSP in response, f"no {CSP} on {response.status_code} {response.get('Content-Type')}"
    parsed = {}
    for part in response[CSP].split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_no_store(response):
    cache_control = {v.strip() for v in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= cache_control, response.get("Cache-Control")


def assert_strict_csp(response):
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    scripts = policy["script-src"]
    assert scripts[0] == "'self'"
    assert not any(s in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:") for s in scripts)
    assert "'unsafe-inline'" not in response[CSP]


class InlineCode(HTMLParser):
    """Everything in a page that a CSP without 'unsafe-inline' or 'unsafe-eval' would block,
    htmx's evaluated attributes included (hx-on:*, [filter] triggers, js: values)."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in attrs:
            if name.startswith(("on", "hx-on", "data-hx-on")) or name == "style":
                self.found.append(f"<{tag} {name}=...>")
        if "[" in (attrs.get("hx-trigger") or ""):
            self.found.append(f"<{tag} hx-trigger=[filter]>")
        for name in ("hx-vals", "hx-vars"):
            if (attrs.get(name) or "").strip().startswith(("js:", "javascript:")) or (
                name == "hx-vars" and name in attrs
            ):
                self.found.append(f"<{tag} {name}=js:...>")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.found.append("<script> without src")
        for name in ("href", "action", "src"):
            if (attrs.get(name) or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")


def assert_no_inline_code(response):
    parser = InlineCode()
    parser.feed(response.content.decode())
    assert parser.found == [], parser.found


@pytest.fixture
def operator(db):
    """A signed-in operator of two tenants (so base.html shows the tenant switcher)."""
    engine.create_queue("demo")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    user = get_user_model().objects.create_user("olga", password="pw-long-12345")
    Membership.objects.create(user=user, tenant=acme, role="admin")
    Membership.objects.create(user=user, tenant=globex, role="viewer")
    client = Client()
    client.force_login(user)
    return client


def signed_in_pages():
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    return [
        reverse("dashboard:overview"),
        reverse("dashboard:queue_table"),
        reverse("dashboard:runs"),
        reverse("dashboard:task", args=[task.task_id]),
        reverse("dashboard:task_live", args=[task.task_id]),
        reverse("dashboard:dead_letters"),
        reverse("dashboard:queues"),
        reverse("dashboard:workers"),
        reverse("dashboard:events"),
        reverse("dashboard:approvals"),
        reverse("tenants:settings"),
    ]


def test_every_signed_in_page_is_no_store_with_a_strict_csp_and_no_inline_code(operator):
    issue_key(Tenant.objects.get(slug="acme"), "ci")  # the settings page lists a key to revoke
    for url in signed_in_pages():
        response = operator.get(url)
        assert response.status_code == 200, url
        assert_no_store(response)
        assert_strict_csp(response)
        # No page reads the nonce, so none is offered to an injected script.
        assert "'nonce-" not in response[CSP], url
        assert_no_inline_code(response)


def test_redirects_after_a_signed_in_post_are_no_store(operator):
    response = operator.post(reverse("dashboard:switch_tenant"), {"tenant": "globex"})
    assert response.status_code == 302
    assert_no_store(response)


def test_the_login_page_has_the_csp_too():
    response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert_strict_csp(response)
    assert_no_inline_code(response)


def _approval_csp(response):
    assert_no_store(response)
    assert_strict_csp(response)
    # No nonce and nothing inline: only our own script files run on a page behind a token.
    assert directives(response)["script-src"] == ["'self'"]
    assert_no_inline_code(response)


def test_approval_pages_are_no_store_and_allow_no_inline_script(make_request):  # noqa: F811
    _request, links = make_request(approvers=["a@example.com"])
    url = f"/approvals/{links['a@example.com']}"
    client = Client()
    shown = client.get(url)
    assert shown.status_code == 200
    _approval_csp(shown)

    decided = client.post(url, {"decision": "approve", "comment": "ok"})
    assert decided.status_code == 200 and "Approve" in decided.content.decode()
    _approval_csp(decided)

    used = client.get(url)
    assert used.status_code == 410
    _approval_csp(used)

    forged = client.get("/approvals/" + "x" * 43)
    assert forged.status_code == 404
    _approval_csp(forged)


def test_api_answers_to_requests_with_credentials_are_no_store(db):
    issued = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ci")
    listed = Client().get("/api/v1/tasks", HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    assert listed.status_code == 200
    assert_no_store(listed)
    refused = Client().get("/api/v1/tasks", HTTP_AUTHORIZATION="Bearer ac_wrong_key")
    assert refused.status_code == 401
    assert_no_store(refused)


def test_anonymous_answers_without_user_data_stay_cacheable(db):
    health = Client().get("/api/v1/health")
    assert health.status_code == 200
    assert "no-store" not in health.get("Cache-Control", "")


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_static_files_stay_cacheable_for_a_signed_in_user(operator):
    response = operator.get("/static/dashboard/dashboard.js")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "max-age" in response["Cache-Control"]


# -- HTTPS: the health check is exempt from the redirect ------------------------------------


@override_settings(SECURE_SSL_REDIRECT=True)
def test_health_answers_over_plain_http_while_other_paths_redirect(db):
    client = Client()
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    for url in ("/api/v1/tasks", "/api/v1/health/", "/", "/approvals/x", "/api/v1/healthz"):
        response = client.get(url)
        assert response.status_code == 301, url
        assert response["Location"] == f"https://testserver{url}"
    # Over HTTPS nothing is redirected, health included.
    assert client.get("/api/v1/health", secure=True).status_code == 200


# -- check --deploy with the documented environment ------------------------------------------


def documented_environment() -> dict[str, str]:
    """The /etc/absurd-control/env example of docs/deploy.md, as the shell would read it."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"`/etc/absurd-control/env`.*?```sh\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md lost its environment file example"
    env = {}
    for line in block.group(1).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def test_check_deploy_passes_at_warning_level_with_the_documented_environment():
    documented = documented_environment()
    assert documented["SECURE_SSL_REDIRECT"] == "true"
    assert int(documented["SECURE_HSTS_SECONDS"]) >= 31536000
    # What the docs tell the reader to replace: a generated key and their own database.
    documented["SECRET_KEY"] = secrets.token_urlsafe(50)
    documented["DATABASE_URL"] = database_url()
    env = {
        name: value
        for name, value in subprocess_env().items()
        # Only the documented settings: nothing the test settings put in the environment.
        if name in ("PATH", "HOME", "LANG", "PYTHONUNBUFFERED", "ABSURD_CONTROL_QUIET_DB")
    }
    env.update(documented, DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# -- the error log -----------------------------------------------------------------------------

ERROR_SCRIPT = """
import django
django.setup()
from django.test import Client, RequestFactory
from django.test.utils import override_settings
from django.urls import path

def boom(request):
    raise RuntimeError("boom-marker")

urlpatterns = [path("boom", boom)]

with override_settings(ROOT_URLCONF=__name__):
    response = Client(raise_request_exception=False).get("/boom")
print("status", response.status_code)

from config.api.problems import on_unexpected
try:
    raise ValueError("api-marker")
except ValueError as exc:
    on_unexpected(RequestFactory().get("/api/v1/x"), exc)
"""


def test_with_debug_off_a_5xx_and_its_traceback_are_logged_to_stderr():
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="testserver",
        DEBUG="false",
    )
    result = subprocess.run(
        [sys.executable, "-c", ERROR_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "status 500" in result.stdout
    # Django's django.request record, through the project's formatter, with the traceback.
    assert re.search(r"ERROR django\.request Internal Server Error: /boom", result.stderr)
    assert "RuntimeError: boom-marker" in result.stderr
    # The API's own handler turns errors into 500 problems; its log line goes out too.
    assert re.search(r"ERROR config\.api api\.unhandled_error GET /api/v1/x", result.stderr)
    assert "ValueError: api-marker" in result.stderr
    # 4xx are not errors of the server: not logged.
    assert "Not Found" not in result.stderr


# -- a page that needs an inline script: the nonce ---------------------------------------------


def _inline_script_page(request):
    from django.template import engines

    template = engines["django"].from_string(
        '<script nonce="{{ request.csp_nonce }}">document.title = "ok";</script>'
    )
    return HttpResponse(template.render({}, request))


urlpatterns = [path("inline", _inline_script_page)]


@override_settings(ROOT_URLCONF=__name__)
def test_a_page_that_reads_the_nonce_allows_that_nonce_only(db):
    first, second = Client().get("/inline"), Client().get("/inline")
    nonces = []
    for response in (first, second):
        (nonce,) = re.findall(r'nonce="([^"]+)"', response.content.decode())
        assert directives(response)["script-src"] == ["'self'", f"'nonce-{nonce}'"]
        nonces.append(nonce)
    assert nonces[0] != nonces[1] and len(nonces[0]) >= 22  # per request, 128 bits
