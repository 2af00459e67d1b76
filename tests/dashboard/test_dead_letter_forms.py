"""The dead letters filter form (dashboard.forms.dead_letter_forms): what the view used to
parse by hand, with the same messages and the same order of complaints."""

import pytest
from django.http import QueryDict

from absurd_core.queries.dead_letters import DeadLetterFilter
from dashboard.forms.dead_letter_forms import DeadLetterFilterForm, filter_params

pytestmark = pytest.mark.django_db


def _form(query: str, **kwargs) -> DeadLetterFilterForm:
    form = DeadLetterFilterForm(QueryDict(query), **kwargs)
    form.is_valid()
    return form


def test_defaults_to_open_and_no_group():
    form = _form("")
    assert form.is_valid()
    assert form.dead_letter_filter() == DeadLetterFilter(state="open", queue=None, group=None)
    assert form.cursor() is None


def test_all_states_and_a_group_taken_as_sent():
    form = _form("state=all&task=t&error_name=E&error=%20spaced%20&before=42")
    assert form.is_valid()
    flt = form.dead_letter_filter()
    assert (flt.state, flt.group) == (None, ("t", "E", " spaced "))  # not stripped
    assert form.cursor() == 42
    assert filter_params(flt) == {"state": "all", "task": "t", "error_name": "E",
                                  "error": " spaced "}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=lost", "Unknown state 'lost': use open, retried or discarded."),
        ("task=", "A group needs a task name."),
        ("before=-1", "The page cursor is not one this page gave out."),
        ("before=%205", "The page cursor is not one this page gave out."),
        ("before=1234567890123456789", "The page cursor is not one this page gave out."),
        # Several bad values: the first in the old parsing order (state, queue, group, cursor).
        ("before=x&task=&state=lost", "Unknown state 'lost': use open, retried or discarded."),
        ("before=x&task=", "A group needs a task name."),
    ],
)
def test_bad_values_name_the_first_problem(query, message):
    form = _form(query)
    assert not form.is_valid()
    assert form.first_error() == message


def test_the_bulk_post_reads_its_cursor_as_up_to():
    form = _form("state=open&up_to=7&before=x", cursor="up_to")
    assert form.is_valid() and form.cursor() == 7
    assert _form("up_to=x", cursor="up_to").first_error(("up_to",)) == (
        "The page cursor is not one this page gave out."
    )
