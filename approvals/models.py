"""Approval requests, one token per approver, and the audit trail.

A request belongs to the task that made it (queue, task id) and to that task's
tenant. Tokens are stored only as SHA-256 hashes. Decisions are recorded on the
token rows under row locks (approvals/decisions.py); the SQL terminal hook
(approvals/sql/0001_terminal_hook.sql) revokes tokens when the task ends.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models.functions import Left


def approval_event_name(task_id) -> str:
    """The event a request's decision is emitted under: unguessable, bound to the waiting task.

    128 random bits make it impossible to guess, even for someone who knows the task
    id; the task id lets the context's system path check that a task awaits only a
    decision owed to it (absurd_core.event_names.system_event_bound_to).
    """
    return f"approval:{secrets.token_urlsafe(16)}:{task_id}"


class ApprovalRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"
        CANCELLED = "cancelled"

    class Policy(models.TextChoices):
        ANY = "any"
        ALL = "all"
        QUORUM = "quorum"

    tenant = models.TextField()
    queue = models.TextField()
    task_id = models.UUIDField()
    run_id = models.UUIDField(null=True, blank=True)
    task_name = models.TextField()
    #: The checkpoint name of the step that created it: one request per step, however
    #: often the step runs (a crash before its checkpoint was written re-runs it).
    step_key = models.TextField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    requester = models.TextField(blank=True)
    policy = models.TextField(choices=Policy.choices, default=Policy.ANY)
    quorum = models.PositiveIntegerField(default=1)
    reject_on_expiry = models.BooleanField(default=True)
    state = models.TextField(choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    #: Who settled it: approver emails, "user:ann" for an operator's cancel, "expiry".
    decided_by = models.TextField(blank=True)
    #: What the workflow was sent (the payload of ``event_name``).
    decision = models.JSONField(null=True, blank=True)
    #: The event the waiting task awaits and the decision emits, fixed at creation:
    #: ``approval:<random>:<task id>`` (``approval_event_name``, set on first save), unguessable
    #: and bound to the task. Requests made before it existed keep ``approval:<id>``.
    event_name = models.TextField(unique=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "task_id", "step_key"], name="approval_request_once_per_step"
            ),
        ]
        indexes = [
            # The tenant is the task's headers.tenant, any length the engine takes: the index
            # holds a prefix, as the event log's does (absurd_core/index_keys.py; readers
            # filter through TenantScope.restrict, which matches it).
            models.Index(
                Left("tenant", 256),
                models.F("state"),
                models.F("id").desc(),
                name="approval_tenant_state",
            ),
            models.Index(fields=["queue", "task_id"], name="approval_task"),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk}: {self.title} ({self.state})"

    def save(self, *args, **kwargs):
        if not self.event_name:
            self.event_name = approval_event_name(self.task_id)
        super().save(*args, **kwargs)


class ApprovalToken(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="tokens")
    tenant = models.TextField()
    approver = models.EmailField()
    #: SHA-256 (hex) of the secret in the emailed link; null until the first link is sent.
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    decision = models.TextField(choices=Decision.choices, blank=True)
    comment = models.TextField(blank=True)
    #: Who decided through this token: the approver, or an API key acting for them.
    decided_via = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    # Delivery of the link (approvals/delivery.py).
    notified_at = models.DateTimeField(null=True, blank=True)
    notify_attempts = models.PositiveIntegerField(default=0)
    notify_error = models.TextField(blank=True)
    reminders_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="approval_token_approver"),
        ]

    def __str__(self) -> str:
        return f"token for {self.approver} on request {self.request_id}"


class ApprovalEvent(models.Model):
    """The audit trail of a request: created, notified, decided, revoked, ..."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.TextField()
    actor = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} on request {self.request_id}"
