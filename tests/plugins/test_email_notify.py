"""The email notifier is a plugin, installed by default, and sends each link once."""

from django.core import mail
from django.test import override_settings

from approvals import notifiers as approval_notifiers
from approvals.delivery import send_link
from plugins.base import plugin_named
from plugins.email_notify.notifiers import EmailNotifier
from tests.helpers import manage, subprocess_env


def _fresh_notifiers():
    approval_notifiers.notifiers.cache_clear()
    return approval_notifiers.notifiers()


def test_the_email_plugin_is_installed_and_provides_the_default_notifier():
    plugin = plugin_named("email_notify")
    assert plugin is not None and plugin.name == "plugins.email_notify"
    assert plugin.approval_notifiers == ("plugins.email_notify.notifiers.EmailNotifier",)
    try:
        assert [type(n) for n in _fresh_notifiers()] == [EmailNotifier]
    finally:
        approval_notifiers.notifiers.cache_clear()


def test_the_old_path_names_the_same_class_and_does_not_send_twice():
    assert approval_notifiers.EmailNotifier is EmailNotifier
    old_path = ["approvals.notifiers.EmailNotifier"]
    try:
        with override_settings(APPROVAL_NOTIFIERS=old_path):
            assert [type(n) for n in _fresh_notifiers()] == [EmailNotifier]
    finally:
        approval_notifiers.notifiers.cache_clear()


def test_a_link_is_emailed_as_before(make_request):
    request, links = make_request(approvers=["boss@example.com"], title="Pay the invoice")
    (message,) = mail.outbox
    assert message.to == ["boss@example.com"]
    assert message.subject == "Approval needed: Pay the invoice"
    assert links["boss@example.com"] in message.body
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html" and links["boss@example.com"] in html

    mail.outbox.clear()
    send_link(request.tokens.get().pk, "reminder")
    (reminder,) = mail.outbox
    assert reminder.subject == "Reminder: Approval needed: Pay the invoice"


def test_without_any_notifier_plugin_check_warns():
    result = manage("check", env=subprocess_env(PLUGINS="plugins.demo"))
    assert result.returncode == 0, result.stderr
    assert "approvals.W001" in result.stderr
    assert "No approval notifier is installed" in result.stderr
