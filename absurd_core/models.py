"""Tables Absurd Control keeps beside the engine's own."""

from datetime import timedelta

from django.db import models
from django.db.models.functions import Left, Now
from django.utils import timezone

from absurd_core.error_groups import normalised_message

#: runworker refreshes its row this often; three missed refreshes mean dead.
WORKER_HEARTBEAT_SECONDS = 5


class WorkerQuerySet(models.QuerySet):
    def alive(self):
        cutoff = timezone.now() - timedelta(seconds=3 * WORKER_HEARTBEAT_SECONDS)
        return self.filter(stopped_at__isnull=True, last_seen__gte=cutoff)


class Worker(models.Model):
    """One runworker process, as it last reported itself."""

    worker_id = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    queues = models.JSONField(default=list)
    concurrency = models.IntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    in_flight = models.IntegerField(default=0)
    processed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)

    objects = WorkerQuerySet.as_manager()

    class Meta:
        db_table = "absurd_control_worker"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.worker_id

    @property
    def status(self) -> str:
        if self.stopped_at is not None:
            return "stopped"
        cutoff = timezone.now() - timedelta(seconds=3 * WORKER_HEARTBEAT_SECONDS)
        return "alive" if self.last_seen >= cutoff else "dead"


class TaskEvent(models.Model):
    """One task or run state transition, or one event emitted on a queue.

    Written only by triggers on the engine's per-queue tables
    (absurd_core/sql/lifecycle.sql), so every path that changes state,
    ours or not, leaves the same trail. Read it, never write it.
    """

    class Kind(models.TextChoices):
        SPAWNED = "spawned"
        CLAIMED = "claimed"
        DEFERRED = "deferred"
        SLEEPING = "sleeping"
        WOKEN = "woken"
        COMPLETED = "completed"
        RETRY_SCHEDULED = "retry_scheduled"
        FAILED = "failed"
        CANCELLED = "cancelled"
        RETRIED = "retried"
        EVENT_EMITTED = "event_emitted"

    id = models.BigAutoField(primary_key=True)
    tenant = models.TextField(null=True, blank=True)
    queue = models.TextField()
    task_id = models.UUIDField(null=True, blank=True)
    run_id = models.UUIDField(null=True, blank=True)
    attempt = models.IntegerField(null=True, blank=True)
    kind = models.TextField(choices=Kind.choices)
    from_state = models.TextField(null=True, blank=True)
    to_state = models.TextField(null=True, blank=True)
    event_name = models.TextField(null=True, blank=True)
    #: "ErrorName: message" (truncated) for failures; the wait for sleeps.
    reason = models.TextField(null=True, blank=True)
    detail = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "absurd_control_task_event"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["queue", "task_id", "id"], name="task_event_history"),
            # The tenant is the task's headers.tenant, any length the engine takes: the
            # index holds a prefix (absurd_core/index_keys.py, which readers go through).
            models.Index(
                Left("tenant", 256), models.F("id").desc(), name="task_event_tenant_recent"
            ),
            # "tenant is null", newest first: emitted events and tasks spawned without a
            # tenant (absurd_core/queries/events.py), which the prefix index cannot answer.
            models.Index(
                models.F("id").desc(),
                name="task_event_untenanted",
                condition=models.Q(tenant__isnull=True),
            ),
            models.Index(fields=["queue", "event_name"], name="task_event_event_name"),
        ]

    def __str__(self) -> str:
        return f"{self.queue}/{self.task_id} {self.kind}"


class DeadLetter(models.Model):
    """A task that failed terminally, until an operator retries or discards it.

    Created by the terminal-failure trigger; resolved through
    absurd_core.actions.dead_letters, whose conditional updates make each action take
    effect once under concurrent duplicates.
    """

    class State(models.TextChoices):
        OPEN = "open"
        RETRIED = "retried"
        DISCARDED = "discarded"

    id = models.BigAutoField(primary_key=True)
    tenant = models.TextField(null=True, blank=True)
    queue = models.TextField()
    task_id = models.UUIDField()
    task_name = models.TextField()
    error_name = models.TextField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    #: The message folded into its group's message (absurd_core/error_groups.py): a
    #: stored generated column, so grouping runs no regular expression.
    error_group = models.GeneratedField(
        expression=normalised_message("error_message"),
        output_field=models.TextField(),
        db_persist=True,
    )
    attempts = models.IntegerField()
    failed_at = models.DateTimeField(db_default=Now())
    state = models.TextField(choices=State.choices, db_default="open")
    resolved_by = models.TextField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(null=True, blank=True)
    #: Set when queue cleanup removed the task; the dead letter itself is kept.
    task_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "absurd_control_dead_letter"
        ordering = ["-id"]
        indexes = [
            # A prefix of the tenant, as for TaskEvent (absurd_core/index_keys.py).
            models.Index(
                Left("tenant", 256),
                models.F("state"),
                models.F("id").desc(),
                name="dead_letter_tenant_state",
            ),
            models.Index(fields=["queue", "task_id"], name="dead_letter_task"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "task_id"],
                condition=models.Q(state="open"),
                name="dead_letter_one_open_per_task",
            )
        ]

    def __str__(self) -> str:
        return f"{self.queue}/{self.task_id} ({self.state})"


class ListenerCursor(models.Model):
    """Where one plugin lifecycle listener stopped reading the event log.

    ``last_txid`` and ``last_id`` are the (txid, id) of the last event handed to
    it; see absurd_core/listeners.py for why the transaction id is part of it.
    """

    listener = models.TextField(primary_key=True)
    last_txid = models.BigIntegerField()
    last_id = models.BigIntegerField(default=0)
    #: Consecutive failures on the event after the cursor; reset when it moves.
    failures = models.IntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "absurd_control_listener_cursor"

    def __str__(self) -> str:
        return f"{self.listener} at {self.last_txid}/{self.last_id}"


class OperatorAction(models.Model):
    """Who did what to a task, queue or dead letter, through the dashboard or the API.

    Written by absurd_core.audit.record in the same transaction as the action, and
    shown on the task's timeline beside the event log's transitions.
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.TextField(null=True, blank=True)
    #: "user:ann" or "key:ci".
    actor = models.TextField()
    #: "cancel", "retry", "emit_event", "discard", "pause", ...
    action = models.TextField()
    queue = models.TextField(null=True, blank=True)
    task_id = models.UUIDField(null=True, blank=True)
    detail = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "absurd_control_operator_action"
        ordering = ["id"]
        indexes = [models.Index(fields=["queue", "task_id", "id"], name="operator_action_task")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.queue}/{self.task_id}"


class Schedule(models.Model):
    """A recurring spawn owned by a tenant (docs/schedules.md).

    ``next_fire_at`` is the next slot; ``due_at`` is when a worker should tick it (the
    slot plus jitter, or later after a refused spawn). Workers tick with
    absurd_core/worker/schedules.py; every change goes through
    absurd_core/actions/schedules.py. The owning tenant is its slug, as task headers
    store it (the core knows no Tenant model).
    """

    CATCH_UP_CHOICES = [("skip", "skip"), ("all", "all")]

    id = models.BigAutoField(primary_key=True)
    tenant = models.TextField()
    name = models.TextField()
    task_name = models.TextField()
    queue = models.TextField()
    params = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    cron = models.TextField(null=True, blank=True)
    every_seconds = models.IntegerField(null=True, blank=True)
    timezone = models.TextField(default="UTC")
    catch_up = models.TextField(choices=CATCH_UP_CHOICES, default="skip")
    catch_up_cap = models.IntegerField(default=100)
    jitter_seconds = models.IntegerField(default=0)
    enabled = models.BooleanField(default=True)
    #: Declared in code (a task's or a plugin's ``schedules``): may be paused, not deleted.
    code_owned = models.BooleanField(default=False)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    last_fire_at = models.DateTimeField(null=True, blank=True)
    last_task_id = models.UUIDField(null=True, blank=True)
    #: The last refused or failed spawn (cleared by the next fire).
    last_error = models.TextField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    fires = models.BigIntegerField(default=0)
    refusals = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "absurd_control_schedule"
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="schedule_tenant_name"),
            models.CheckConstraint(
                condition=models.Q(cron__isnull=True) ^ models.Q(every_seconds__isnull=True),
                name="schedule_cron_xor_every",
            ),
            models.CheckConstraint(
                condition=models.Q(catch_up__in=["skip", "all"]), name="schedule_catch_up"
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=models.Q(enabled=True), name="schedule_due")
        ]

    def __str__(self) -> str:
        return f"{self.tenant}/{self.name}"


class ThroughputBucket(models.Model):
    """Finished work per time bucket, queue and tenant: the overview chart's data.

    Written only by the event log's insert trigger (absurd_core/sql/throughput.sql),
    set-based, one row per (span, bucket, queue, tenant); read by
    absurd_core.queries.throughput. Each event is counted twice: in its minute
    (``span`` 1) and in its hour (``span`` 60), so a 7-day chart reads hours.
    """

    id = models.BigAutoField(primary_key=True)
    #: The bucket's width in minutes: 1 or 60.
    span = models.SmallIntegerField()
    bucket = models.DateTimeField()
    queue = models.TextField()
    #: The task's tenant (first 256 characters); "" for a task without one.
    tenant = models.TextField()
    #: The backend (pg_backend_pid) whose transactions added to this row: each connection
    #: has rows of its own, so concurrent completions never wait on one another's row
    #: lock (and cannot deadlock on it). Readers sum over it; 0 for rebuilt rows.
    writer = models.IntegerField(default=0)
    completed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    #: Failed attempts followed by a new run (automatic retries and manual retries).
    retried = models.BigIntegerField(default=0)

    class Meta:
        db_table = "absurd_control_throughput"
        constraints = [
            models.UniqueConstraint(
                fields=["span", "bucket", "queue", "tenant", "writer"], name="throughput_bucket_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.queue}/{self.tenant} {self.bucket:%Y-%m-%d %H:%M} ({self.span} min)"


class RunDurationBucket(models.Model):
    """How many completed runs of a task name took about so long, per time bucket:
    a log-scale histogram (``bin``: see absurd_core/sql/throughput.sql) that the
    duration percentiles are read from. Written only by the same trigger."""

    id = models.BigAutoField(primary_key=True)
    span = models.SmallIntegerField()
    bucket = models.DateTimeField()
    queue = models.TextField()
    tenant = models.TextField()
    #: The task name (first 256 characters).
    task_name = models.TextField()
    bin = models.SmallIntegerField()
    #: As ThroughputBucket.writer.
    writer = models.IntegerField(default=0)
    runs = models.BigIntegerField(default=0)

    class Meta:
        db_table = "absurd_control_run_duration"
        constraints = [
            models.UniqueConstraint(
                fields=["span", "bucket", "queue", "tenant", "task_name", "bin", "writer"],
                name="run_duration_bucket_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.queue}/{self.task_name} {self.bucket:%Y-%m-%d %H:%M} bin {self.bin}"
