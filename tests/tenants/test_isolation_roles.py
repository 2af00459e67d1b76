"""Isolation proof for roles and queue names (issue 14, defect 4).

A principal's powers are those of the membership it acts through (docs/tenants.md,
"Roles"). The escalation paths the security test found are tested one by one, then
the proof: as every role of tenant A, as a platform viewer who is admin of A (in each
of their choices), and as a superuser acting as A, every dashboard POST the resolver
knows is sent with B's ids, B's queue names and hostile queue names; B's data, the
platform tenant's roles, the tenants table and the queues' shared state (pause,
cleanup policy, existence) are byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from absurd_core import engine
from absurd_core.models import DeadLetter
from absurd_core.queues import pauses
from approvals.delivery import send_link
from approvals.requests import create_request
from tenants.api_keys import issue_key
from tenants.models import ApiKey, Membership, Tenant
from tenants.resolution import ALL, SESSION_KEY
from tests.helpers import PASSWORD, role_user
from tests.tenants.snapshot import assert_unchanged, tenant_snapshot

pytestmark = pytest.mark.django_db

B = "globex"
B_QUEUE = "globex_q"  # a queue only B's tasks use: a name B could think of as its own
B_EVENT = f"tenant:{B}:order-1:paid"
HOSTILE_NAMES = [
    "a; drop table x",
    "x" * 58,
    "-leading-dash",
    "quote'd",
    "tab\tname",
    " a",
    "demo%00",
    "..%2Fdemo",
    "DEMO",
    "absurd.t_demo",
    "*",
]


def _act(client: Client, user, value: str | None) -> Client:
    """Log ``user`` in acting as ``value`` (a slug, ALL, or None for the default)."""
    client.force_login(user)
    if value is not None:
        session = client.session
        session[SESSION_KEY] = value
        session.save()
    return client


def _spawn(queue, tenant, name="test.any", params=None, **options):
    return engine.spawn_task(
        queue, name, params or {}, headers={"tenant": tenant}, **options
    ).task_id


def _failed_for_good(queue, tenant):
    """A task of ``tenant`` failed with no attempt left: a dead letter (the only task there)."""
    task_id = _spawn(queue, tenant, "test.always_fail", max_attempts=1)
    reason = '{"name": "ValueError", "message": "failed for good"}'
    with connection.cursor() as cursor:
        cursor.execute("select run_id from absurd.claim_task(%s, 'w', 60, 1)", [queue])
        (run_id,) = cursor.fetchone()
        cursor.execute("select absurd.fail_run(%s, %s, %s::jsonb, null)", [queue, run_id, reason])
    return task_id


def _waiting(queue, tenant, event):
    """A task of ``tenant`` waiting for ``event`` (the only task in ``queue``)."""
    task_id = _spawn(queue, tenant, "demo.wait_event", {"event": event})
    with connection.cursor() as cursor:
        cursor.execute("select run_id from absurd.claim_task(%s, 'w', 60, 1)", [queue])
        (run_id,) = cursor.fetchone()
        cursor.execute(
            "select * from absurd.await_event(%s, %s, %s, 'wait', %s, 600)",
            [queue, task_id, run_id, event],
        )
    return task_id


def _sent_token_hash(approval) -> str:
    """B's link is sent (its secret is in B's inbox); A could at most know its hash."""
    token = approval.tokens.get()
    send_link(token.pk, "request")
    token.refresh_from_db()
    return token.token_hash


def _shared_state() -> dict:
    """What every tenant shares about queues: which exist, their policy, their pauses."""
    with connection.cursor() as cursor:
        cursor.execute("select row_to_json(q)::text from absurd.queues q order by queue_name")
        queues = [row[0] for row in cursor.fetchall()]
    return {"queues": queues, "pauses": pauses()}


def _tenants() -> list[dict]:
    return list(Tenant.objects.order_by("pk").values())


@pytest.fixture
def world():
    for queue in ("demo", B_QUEUE, "failq"):
        engine.create_queue(queue)
    a = Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug=B, name="Globex")
    ops = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    b_pending = _spawn("demo", B, max_attempts=1)
    b_own_queue = _waiting(B_QUEUE, B, B_EVENT)
    failed = _failed_for_good("failq", B)
    approval = create_request(
        tenant=B, queue="demo", task_id=b_pending, run_id=None, task_name="test.any",
        step_key="approval", title="Approve", description="", approvers=["boss@example.com"],
        policy="any", expires_in=timedelta(hours=1), context={}, reject_on_expiry=False,
    )  # fmt: skip
    b_admin = role_user("b-admin", memberships={"globex": "admin"})
    users = {
        f"a-{role}": role_user(f"a-{role}", memberships={"acme": role})
        for role in ("viewer", "operator", "admin")
    }
    users["mixed"] = role_user("mixed", memberships={"ops": "viewer", "acme": "admin"})
    users["root"] = role_user("root", memberships={"acme": "admin"}, superuser=True)
    return {
        "a": a,
        "ops": ops,
        "users": users,
        "b": {
            "task_id": str(b_pending),
            "own_queue_task_id": str(b_own_queue),
            "failed_task_id": str(failed),
            "dead_letter_id": DeadLetter.objects.get(task_id=failed).pk,
            "approval_id": approval.pk,
            "api_key_id": issue_key(Tenant.objects.get(slug=B), "b-key").api_key.pk,
            "membership_id": b_admin.memberships.get().pk,
            "tenant_id": Tenant.objects.get(slug=B).pk,
        },
        "ops_admin_key": issue_key(ops, "ops-admin", role="admin").key,
        "b_token_hash": _sent_token_hash(approval),
    }


def _state(queue, task_id) -> str:
    return engine.get_task_result(queue, task_id).state


# -- the escalation paths, one by one -------------------------------------------------------


@pytest.mark.parametrize("acting_as", [None, ALL, "acme", "ops"])
def test_a_platform_viewer_who_is_admin_of_a_cannot_cancel_bs_task_or_pause_a_queue(
    client, world, acting_as
):
    _act(client, world["users"]["mixed"], acting_as)
    b = world["b"]
    before = tenant_snapshot(B), _shared_state()
    cancel = client.post(reverse("dashboard:task_cancel", args=[b["task_id"]]), {"confirmed": "1"})
    bulk = client.post(
        reverse("dashboard:runs_bulk"),
        {"bulk": "cancel:matching", "confirm": "yes", "tenant": B, "queue": "demo"},
    )
    pause = client.post(reverse("dashboard:pause_queue", args=["demo"]))
    policy = client.post(
        reverse("dashboard:queue_policy", args=["demo"]),
        {"ttl_value": "1", "ttl_unit": "days", "cleanup_limit": "1"},
    )
    # As acme's admin the bulk cancel applies to acme's tasks (none): a redirect, no change.
    assert cancel.status_code in (403, 404) and bulk.status_code in (302, 403)
    assert pause.status_code == 403 and policy.status_code == 403
    assert _state("demo", b["task_id"]) == "pending"
    assert_unchanged(before[0], tenant_snapshot(B))
    assert _shared_state() == before[1]


def test_through_the_api_a_tenant_admins_key_has_no_platform_powers(client, world):
    # The mixed user issues an admin key for acme, the tenant they administer.
    _act(client, world["users"]["mixed"], "acme")
    response = client.post(
        reverse("tenants:create_key"), {"name": "mine", "role": "admin"}, follow=True
    )
    key = re.search(r"ac_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", response.text)
    headers = {"Authorization": f"Bearer {key[0]}"}
    before = tenant_snapshot(B), _shared_state()
    b = world["b"]
    assert client.post("/api/v1/queues/demo/pause", headers=headers).status_code == 403
    policy = client.put(
        "/api/v1/queues/demo/policy", {"cleanup_limit": 1}, "application/json", headers=headers
    )
    assert policy.status_code == 403
    assert client.post(f"/api/v1/tasks/{b['task_id']}/cancel", headers=headers).status_code == 404
    assert_unchanged(before[0], tenant_snapshot(B))
    assert _shared_state() == before[1]
    # A platform tenant's admin key has them (the key's role, the key's tenant).
    ops = {"Authorization": f"Bearer {world['ops_admin_key']}"}
    assert client.post("/api/v1/queues/demo/pause", headers=ops).status_code == 200
    assert "demo" in pauses()


def test_a_tenant_admin_making_a_platform_viewer_admin_of_their_tenant_grants_no_platform_power(
    world,
):
    platform_viewer = role_user("pv", memberships={"ops": "viewer"})
    a_admin = _act(Client(), world["users"]["a-admin"], None)
    response = a_admin.post(reverse("tenants:add_member"), {"username": "pv", "role": "admin"})
    assert response.status_code == 302
    assert Membership.objects.get(user=platform_viewer, tenant=world["a"]).role == "admin"
    b = world["b"]
    before = tenant_snapshot(B), _shared_state()
    for acting_as in (None, ALL, "ops", "acme"):
        client = _act(Client(), platform_viewer, acting_as)
        url = reverse("dashboard:task_cancel", args=[b["task_id"]])
        assert client.post(url, {"confirmed": "1"}).status_code in (403, 404), acting_as
        assert client.post(reverse("dashboard:pause_queue", args=["demo"])).status_code == 403
        retry = reverse("dashboard:dead_letter_action", args=[b["dead_letter_id"], "retry"])
        assert client.post(retry).status_code in (403, 404), acting_as
    assert_unchanged(before[0], tenant_snapshot(B))
    assert _shared_state() == before[1]


@pytest.mark.parametrize("acting_as", [None, ALL, "acme", "ops"])
def test_nobody_but_a_platform_admin_grants_platform_roles_on_the_settings_page(world, acting_as):
    role_user("newcomer")
    client = _act(Client(), world["users"]["mixed"], acting_as)
    before = tenant_snapshot("ops")
    client.post(reverse("tenants:add_member"), {"username": "newcomer", "role": "admin"})
    client.post(reverse("tenants:create_key"), {"name": "k", "role": "admin"})
    ops_member = world["ops"].memberships.get()
    client.post(reverse("tenants:change_member", args=[ops_member.pk]), {"role": "admin"})
    assert_unchanged(before, tenant_snapshot("ops"))
    # The principal acting as ops is its viewer; as acme, acme's admin, adding to acme only.
    added = Membership.objects.filter(user__username="newcomer")
    assert list(added.values_list("tenant__slug", flat=True)) == (
        ["acme"] if acting_as == "acme" else []
    )


def test_the_settings_page_refuses_a_platform_tenant_to_a_principal_not_acting_as_it(world):
    from django.core.exceptions import PermissionDenied

    from absurd_core.tenancy import TenantScope
    from tenants.administration import add_member
    from tenants.permissions import Principal

    role_user("newcomer")
    # Defence in depth: a principal for ops that is not marked platform (no resolution
    # path makes one) still cannot grant ops's roles.
    forged = Principal(TenantScope("ops"), "admin", "user:x", platform=False)
    with pytest.raises(PermissionDenied, match="Only platform admins grant platform roles"):
        add_member(forged, username="newcomer", role="admin")
    assert not Membership.objects.filter(user__username="newcomer").exists()


# -- the Django admin ---------------------------------------------------------------------


@pytest.fixture
def staff(world):
    """A staff user with every permission on tenants' models, not a platform admin."""
    from django.contrib.auth.models import Permission

    user = role_user("staffer", memberships={"acme": "admin"})
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="tenants"))
    return _act(Client(), user, None)


def test_staff_who_are_not_platform_admins_cannot_grant_platform_roles_in_the_admin(staff, world):
    target = role_user("target")
    ops = world["ops"]
    before = tenant_snapshot("ops"), _tenants()
    add_member = staff.post(
        "/admin/tenants/membership/add/",
        {"user": target.pk, "tenant": ops.pk, "role": "admin"},
    )
    assert add_member.status_code == 200 and "Only platform admins grant" in add_member.text
    add_key = staff.post(
        "/admin/tenants/apikey/add/",
        {"tenant": ops.pk, "name": "mine", "role": "admin", "scopes": "[]"},
    )
    assert add_key.status_code == 200 and "Only platform admins grant" in add_key.text
    ops_member = ops.memberships.get()
    change = staff.post(
        f"/admin/tenants/membership/{ops_member.pk}/change/",
        {"user": ops_member.user_id, "tenant": ops.pk, "role": "admin"},
    )
    assert change.status_code == 403
    delete = staff.post(f"/admin/tenants/membership/{ops_member.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    # A tenant cannot be made a platform tenant, nor the platform tenant changed.
    staff.post(
        f"/admin/tenants/tenant/{world['a'].pk}/change/",
        {**_tenant_form(world["a"]), "is_platform": "on"},
    )
    changed = staff.post(f"/admin/tenants/tenant/{ops.pk}/change/", _tenant_form(ops, active=""))
    assert changed.status_code == 403
    revoke = staff.post(
        "/admin/tenants/apikey/",
        {"action": "revoke", "_selected_action": list(ops.api_keys.values_list("pk", flat=True))},
    )
    assert revoke.status_code == 302
    assert_unchanged(before[0], tenant_snapshot("ops"))
    assert _tenants() == before[1]


def _tenant_form(tenant: Tenant, **overrides) -> dict:
    form = {
        "slug": tenant.slug,
        "name": tenant.name,
        "active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v != ""}


def test_the_same_staff_user_still_manages_ordinary_tenants_in_the_admin(staff, world):
    target = role_user("target")
    response = staff.post(
        "/admin/tenants/membership/add/",
        {"user": target.pk, "tenant": world["a"].pk, "role": "admin"},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=target).tenant == world["a"]


def test_platform_admins_grant_platform_roles_in_the_admin(world):
    target = role_user("target")
    root = _act(Client(), world["users"]["root"], None)
    response = root.post(
        "/admin/tenants/membership/add/",
        {"user": target.pk, "tenant": world["ops"].pk, "role": "admin"},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=target).tenant == world["ops"]
    response = root.post(
        "/admin/tenants/apikey/add/",
        {"tenant": world["ops"].pk, "name": "ops-ci", "role": "operator", "scopes": "[]"},
    )
    assert response.status_code == 302 and ApiKey.objects.filter(name="ops-ci").exists()


# -- the proof: every dashboard POST, every way to name B's things ---------------------------

#: Who acts, as (user, what they act as): A's roles, the platform viewer who is A's admin in
#: each of their choices, and a superuser acting as A (where they are admin).
ACTORS = [
    ("a-viewer", None),
    ("a-operator", None),
    ("a-admin", None),
    ("mixed", ALL),
    ("mixed", "acme"),
    ("mixed", "ops"),
    ("root", "acme"),
]


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _expand(route: str, values: dict[str, list[str]]) -> list[str]:
    """Every path for ``route`` with each of ``values`` for its parameters (Django path or
    regex syntax; a regex alternative ``a|b`` is tried as each of its words)."""
    match = re.search(r"\(\?P<(\w+)>([^)]*)\)|<(?:\w+:)?(\w+)>", route)
    if match is None:
        return ["/" + route.replace("^", "").replace("$", "").replace("\\", "").lstrip("/")]
    name = match[1] or match[3]
    if match[2] and re.fullmatch(r"\w+(\|\w+)+", match[2]):
        options = match[2].split("|")
    else:
        options = values.get(name) or values["*"]
    return [
        path
        for option in options
        for path in _expand(route[: match.start()] + option + route[match.end() :], values)
    ]


def _bodies(path: str, world: dict) -> list[dict]:
    """Bodies that pass the forms of the dashboard's POSTs, naming B's things: one to cancel
    or discard, one to retry, each confirmed; a drop confirms the queue's name."""
    b = world["b"]
    queue = re.search(r"queues/([^/]+)/", path)
    common = {
        "confirmed": "1",
        "tenant": B,
        "queue": B_QUEUE,
        "ids": [str(b["dead_letter_id"])],
        "selected": [b["task_id"], b["own_queue_task_id"], b["failed_task_id"]],
        "as_of": timezone.now().isoformat(),
        "event": B_EVENT,
        "payload": '{"from": "a"}',
        "name": B_QUEUE,
        "role": "admin",
        "username": "b-admin",
        "ttl_value": "1",
        "ttl_unit": "days",
        "cleanup_limit": "1",
        "note": "by a",
        "next": "/",
    }
    return [
        {**common, "confirm": "yes", "bulk": "cancel:matching", "op": "discard:matching"},
        {
            **common,
            "confirm": quote(queue[1], safe="") if queue else "yes",
            "bulk": "retry:selected",
            "op": "retry:selected",
            "spawn_new": "on",
            "remove": "1",
        },
    ]


def _values(world: dict) -> dict[str, list[str]]:
    b = world["b"]
    queues = [B_QUEUE, "demo", "failq", *HOSTILE_NAMES]
    return {
        "name": [quote(name, safe="") for name in queues],
        "task_id": [b["task_id"], b["own_queue_task_id"], b["failed_task_id"]],
        "dead_letter_id": [str(b["dead_letter_id"])],
        "approval_id": [str(b["approval_id"])],
        "key_id": [str(b["api_key_id"])],
        "membership_id": [str(b["membership_id"])],
        "object_id": [str(b["tenant_id"]), str(b["membership_id"]), str(b["api_key_id"])],
        "token": [world["b_token_hash"]],
        "*": [B],
    }


def _pictures() -> dict:
    ops = tenant_snapshot("ops")
    for key in ops["api_keys"]:
        key["last_used_at"] = None  # a platform key used by the proof itself records its use
    return {
        "b": tenant_snapshot(B),
        "ops": ops,
        "shared": _shared_state(),
        "tenants": _tenants(),
    }


#: Routes posted between two looks at B's data in the proof below.
LOOK_EVERY = 10


def _unchanged(before: dict, after: dict, what: str) -> None:
    for slug in ("b", "ops"):
        try:
            assert_unchanged(before[slug], after[slug])
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc} ({B if slug == 'b' else slug})") from None
    assert after["shared"] == before["shared"], f"{what} changed a queue's shared state"
    assert after["tenants"] == before["tenants"], f"{what} changed the tenants"


@pytest.mark.parametrize(("username", "acting_as"), ACTORS)
def test_every_dashboard_post_with_bs_ids_and_queue_names_changes_nothing_of_b(
    world, username, acting_as
):
    routes = sorted(set(_walk(get_resolver().url_patterns)))
    assert {"queues/<str:name>/pause", "tasks/<uuid:task_id>/cancel", "runs/bulk"} <= set(routes)
    if username == "root":
        # The Django admin has no "acting as": a superuser there is a platform admin.
        routes = [route for route in routes if not route.startswith("admin/")]
    user = world["users"][username]
    client = Client()
    values = _values(world)
    before = _pictures()
    sent, since_look = 0, []
    for index, route in enumerate(routes):
        for path in _expand(route, values):
            for body in _bodies(path, world):
                _act(client, user, acting_as)
                client.post(path, body)
                sent += 1
        # A look every LOOK_EVERY routes (each look reads every table of B, ops and the
        # queues: a third of the test's time when taken after each route), naming them.
        since_look.append("the admin's routes" if route.startswith("admin/") else route)
        if len(since_look) >= LOOK_EVERY or index + 1 == len(routes):
            what = ", ".join(dict.fromkeys(since_look))
            _unchanged(before, _pictures(), f"{username} as {acting_as or 'default'}: POST {what}")
            since_look = []
    assert sent > 300
    assert _state("demo", world["b"]["task_id"]) == "pending"


@pytest.mark.parametrize(
    "route",
    [
        "tasks/<uuid:task_id>/cancel",
        "tasks/<uuid:task_id>/emit",
        "tasks/<uuid:task_id>/retry",
        "runs/bulk",
        "dead-letters/bulk",
        "^dead-letters/(?P<dead_letter_id>[0-9]{1,18})/(?P<kind>retry|retry_new|discard)$",
        "approval-requests/<int:approval_id>/cancel",
        "queues/<str:name>/pause",
        "queues/<str:name>/policy",
    ],
)
def test_the_proofs_posts_do_change_b_for_a_platform_admin_acting_for_all_tenants(world, route):
    # The control: the same requests, sent by someone who may, do change B's data or the
    # queues, so the proof above is not vacuous (its bodies pass the forms).
    assert route in set(_walk(get_resolver().url_patterns))
    client = Client()
    before = _pictures()
    for path in _expand(route, _values(world)):
        for body in _bodies(path, world):
            _act(client, world["users"]["root"], ALL)
            client.post(path, body)
    assert _pictures() != before


# -- the same proof over the API: every write operation, with every key A could hold -------

#: Values that name B's things, for the body fields that exist in an operation's schema.
API_FIELDS = {
    "queue": B_QUEUE,
    "name": B_EVENT,
    "payload": {"from": "a"},
    "cleanup_ttl_seconds": 60,
    "cleanup_limit": 1,
    "decision": "approve",
    "note": "by a",
}


def _api_bodies(schema: dict, operation: dict) -> list[dict]:
    from tests.tenants.test_isolation import valid_body

    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return [{}]
    node = content["schema"]
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    valid = valid_body(schema, operation)
    named = {k: v for k, v in API_FIELDS.items() if k in node.get("properties", {})}
    return [valid, {**valid, **named}]


@pytest.mark.parametrize("key", ["a-viewer", "a-operator", "a-admin", "ops-viewer"])
def test_every_api_write_with_bs_ids_and_queue_names_changes_nothing_of_b(client, world, key):
    tenant, role = ("ops", "viewer") if key == "ops-viewer" else ("acme", key[2:])
    issued = issue_key(Tenant.objects.get(slug=tenant), key, role=role).key
    headers = {"Authorization": f"Bearer {issued}"}
    schema = client.get("/api/v1/openapi.json").json()
    values = _values(world)
    values["approval_id"] = [str(world["b"]["approval_id"])]
    before = _pictures()
    sent = 0
    for route, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in {"post", "put", "patch", "delete"}:
                continue
            django_route = re.sub(r"\{(\w+)\}", r"<\1>", route.removeprefix("/"))
            for path in _expand(django_route, values):
                for body in _api_bodies(schema, operation):
                    getattr(client, method)(
                        path, body, content_type="application/json", headers=headers
                    )
                    sent += 1
            _unchanged(before, _pictures(), f"{key}: {method.upper()} {route}")
    assert sent > 50


# -- keys of ordinary tenants carry no platform scope -----------------------------------------


def test_no_path_issues_an_ordinary_tenants_key_with_a_platform_scope(world, staff):
    from django.core.management import CommandError, call_command

    a_admin = _act(Client(), world["users"]["a-admin"], None)
    response = a_admin.post(
        reverse("tenants:create_key"),
        {"name": "q", "role": "admin", "scopes": ["queues:admin"]},
    )
    assert response.status_code == 400
    assert "queues:admin is for keys of a platform tenant" in response.text
    response = staff.post(
        "/admin/tenants/apikey/add/",
        {"tenant": world["a"].pk, "name": "q", "role": "admin", "scopes": '["queues:admin"]'},
    )
    assert response.status_code == 200 and "is for keys of a platform tenant" in response.text
    assert not ApiKey.objects.filter(name="q").exists()
    with pytest.raises(CommandError, match="queues:admin is for keys of a platform tenant"):
        call_command("create_api_key", "--tenant", "acme", "--name", "q", "--scope", "queues:admin")
    assert not ApiKey.objects.filter(name="q").exists()


def test_issue_key_refuses_a_platform_scope_for_an_ordinary_tenant(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="queues:admin is for keys of a platform tenant"):
        issue_key(world["a"], "q", role="admin", scopes=["queues:admin"])
    assert not ApiKey.objects.filter(name="q").exists()
    platform_key = issue_key(world["ops"], "q", role="admin", scopes=["queues:admin"])
    assert platform_key.api_key.scopes == ["queues:admin"]


# -- Django's user admin: no way around the rule through users --------------------------------


def _user_form(user, **overrides) -> dict:
    form = {
        "username": user.username,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v != ""}


@pytest.fixture
def user_staff(world):
    """A staff user who may change users (Django's "change user" permission), not a superuser."""
    from django.contrib.auth.models import Permission

    user = role_user("userstaff", memberships={"acme": "admin"})
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="auth"))
    return user


def test_staff_cannot_make_themselves_superuser_or_take_over_platform_accounts(world, user_staff):
    client = _act(Client(), user_staff, None)
    response = client.post(
        f"/admin/auth/user/{user_staff.pk}/change/",
        _user_form(user_staff, is_superuser="on", user_permissions=["1"]),
    )
    assert response.status_code == 302  # saved, without the fields they may not set
    user_staff.refresh_from_db()
    assert not user_staff.is_superuser
    platform_viewer = role_user("pv", memberships={"ops": "viewer"})
    for target in (world["users"]["root"], platform_viewer, world["users"]["mixed"]):
        password = f"/admin/auth/user/{target.pk}/password/"
        form = {"password1": "new-pw-long-12345", "password2": "new-pw-long-12345"}
        assert client.post(password, {**form, "usable_password": "true"}).status_code == 403
        target.refresh_from_db()
        assert target.check_password(PASSWORD), target
        changed = client.post(f"/admin/auth/user/{target.pk}/change/", _user_form(target))
        assert changed.status_code == 403
    # An ordinary tenant's member is theirs to manage.
    ordinary = role_user("ordinary", memberships={"acme": "viewer"})
    response = client.post(
        f"/admin/auth/user/{ordinary.pk}/password/",
        {"password1": "new-pw-long-12345", "password2": "new-pw-long-12345"},
    )
    assert response.status_code == 302
    ordinary.refresh_from_db()
    assert ordinary.check_password("new-pw-long-12345")


def test_a_superuser_still_grants_superuser_in_the_user_admin(world, user_staff):
    # The control: the same form, sent by a superuser, does set the flag.
    client = _act(Client(), world["users"]["root"], None)
    response = client.post(
        f"/admin/auth/user/{user_staff.pk}/change/",
        _user_form(user_staff, is_superuser="on"),
    )
    assert response.status_code == 302
    user_staff.refresh_from_db()
    assert user_staff.is_superuser
