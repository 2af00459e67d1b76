"""The dashboard's forms, one module per page: what a query string or a POST means, validated.

runs_forms (the runs filter), queue_forms (create, cleanup policy, drop),
task_forms (emit an event, retry), event_forms (the events filter) and
dead_letter_forms (the dead letters filter and page cursor).
"""
