"""The shell's banner when pages read from a lagging read replica (config/replica.py sets
``request.replica_status``; the wording is dashboard.presenters.replica_lag_notice)."""

from django.conf import settings

from dashboard.presenters import replica_lag_notice


def replica_lag(request):
    status = getattr(request, "replica_status", None)
    if status is None:
        return {}
    return {"replica_lag_notice": replica_lag_notice(status, settings.REPLICA_LAG_BANNER_SECONDS)}
