"""``{% run_filter_chips form paused as chips %}``: the runs filter's chips, for the filter
block of dashboard/_runs_page.html (dashboard.run_filter_chips)."""

from django import template

from dashboard.run_filter_chips import run_filter_chips as build

register = template.Library()


@register.simple_tag
def run_filter_chips(form, paused=False):
    return build(form.filter_params(), paused=bool(paused))
