"""The dashboard's pages: one module per page, named for its URL name.

Each module holds the page's views, its partials and actions, and its ``urlpatterns``
(dashboard/urls.py gathers them). Views are decorated in one order: the HTTP method
(``require_safe`` / ``require_POST``), then ``dashboard.access.dashboard_view``.
"""
