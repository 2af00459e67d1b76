"""The decision page behind an emailed link. GET shows; only a POST decides.

Mail scanners (Safe Links, Mimecast, Proofpoint) fetch links in emails before
the recipient sees them: a GET must never change anything. The POST is
protected by Django's CSRF middleware. A link that cannot decide any more
(used, revoked, expired, or its request settled) gets a page that says what
happened and who decided, with status 410; a forged one, 404.

Every answer here is ``no-store`` (the token is in the URL, the decision in the body: neither
may stay in a shared computer's cache) and allows no inline script, not even by nonce.
"""

from __future__ import annotations

from csp import constants as csp
from csp.decorators import csp_replace
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from approvals.decisions import DecisionRefused, decide, find_token, refusal_for
from approvals.forms import DecisionForm

REFUSAL_STATUS = {"invalid": 404}


def _refused(request: HttpRequest, refusal: DecisionRefused) -> HttpResponse:
    return render(
        request,
        "approvals/closed.html",
        {"refusal": refusal, "approval": refusal.request},
        status=REFUSAL_STATUS.get(refusal.reason, 410),
    )


@never_cache
@csp_replace({"script-src": [csp.SELF]})
@require_http_methods(["GET", "POST"])
def decide_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = find_token(token)
    except DecisionRefused as refusal:
        return _refused(request, refusal)
    approval = found.request
    form = DecisionForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, found, form, status=400)
        try:
            result = decide(
                found.pk,
                form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
                ip=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except DecisionRefused as refusal:
            return _refused(request, refusal)
        return render(
            request, "approvals/done.html", {"result": result, "approval": result.request}
        )
    refusal = refusal_for(found, approval)
    if refusal is not None:
        return _refused(request, refusal)
    return _page(request, found, form)


def _page(request, token, form, status=200) -> HttpResponse:
    approval = token.request
    answered = approval.tokens.exclude(decision="").order_by("used_at")
    return render(
        request,
        "approvals/decide.html",
        {
            "approval": approval,
            "token": token,
            "form": form,
            "answered": answered,
            "context_rows": sorted(approval.context.items())
            if isinstance(approval.context, dict)
            else [],
        },
        status=status,
    )
