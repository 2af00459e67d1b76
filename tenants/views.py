"""The login view, with the per-source failure limit of tenants.auth_throttle."""

from django.contrib.auth import views as auth_views

from tenants.auth_throttle import record_failure, retry_after, source_of


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        wait = retry_after(source_of(request))
        if wait > 0:
            # Refused before the password is looked at: no check, no timing to learn from.
            context = self.get_context_data(
                form=self.form_class(request=request),
                throttled=f"Too many failed log-ins from this address. Try again in {wait:.0f} s.",
            )
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        record_failure(source_of(self.request))
        return super().form_invalid(form)
