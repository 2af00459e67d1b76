"""``{% load links %}``: dashboard/links.py's helpers as template tags."""

from __future__ import annotations

from django import template

from dashboard import links

register = template.Library()


@register.simple_tag
def runs_url(queue=None, state=None, scope=None, task=None) -> str:
    return links.runs_url(queue=queue, state=state, scope=scope, task=task)


@register.simple_tag
def queue_url(name) -> str:
    return links.queue_url(name)


@register.simple_tag
def task_link(task_id, label=None):
    return links.task_link(task_id, label)


@register.simple_tag
def worker_link(worker_id):
    return links.worker_link(worker_id)


@register.simple_tag
def schedule_link(schedule_id, name):
    return links.schedule_link(schedule_id, name)


@register.simple_tag
def parent_link(task_id, task_name=None):
    return links.parent_link(task_id, task_name)
