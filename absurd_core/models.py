"""Tables Absurd Control keeps beside the engine's own."""

from datetime import timedelta

from django.db import models
from django.utils import timezone

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
