"""Running totals of task transitions, folded from the event log at scrape time.

The event log (absurd_core.models.TaskEvent) is the record of every transition,
but counting it at every scrape would cost a scan of the whole log. Instead each
scrape adds the events written since the previous one to these totals, and
moves the cursor, in one transaction (plugins/metrics/collector.py). The totals
are therefore shared by every process that serves /metrics, and survive the
event log being pruned.
"""

from django.db import models
from django.db.models.functions import MD5


class TaskTotal(models.Model):
    queue = models.TextField()
    #: "" for tasks spawned without a tenant header.
    tenant = models.TextField(default="", blank=True)
    #: A TaskEvent kind: spawned, completed, failed, cancelled, retry_scheduled.
    kind = models.TextField()
    total = models.BigIntegerField(default=0)

    class Meta:
        db_table = "absurd_control_metrics_task_total"
        constraints = [
            # md5 of the tenant: it is a task's headers.tenant, any length the engine takes,
            # and a btree entry holds at most about 2,700 bytes.
            models.UniqueConstraint(
                models.F("queue"), MD5("tenant"), models.F("kind"), name="metrics_total_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.queue}/{self.tenant or '-'} {self.kind}: {self.total}"


class FoldCursor(models.Model):
    """The (txid, id) of the last event folded into TaskTotal; one row."""

    name = models.TextField(primary_key=True)
    last_txid = models.BigIntegerField(default=0)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "absurd_control_metrics_cursor"

    def __str__(self) -> str:
        return f"{self.name} at {self.last_txid}/{self.last_id}"
