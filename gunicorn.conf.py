# gunicorn reads this file from the directory it starts in (the checkout), so the documented
# `gunicorn config.wsgi` command uses it. Command-line flags override it.

# Let request lines up to gunicorn's maximum (8190 bytes) reach Django, which answers URLs
# over API_MAX_URL_BYTES (4096 by default) with a JSON 414 problem (config/api/url_limit.py)
# instead of gunicorn's own plain error page. Longer lines still get gunicorn's answer.
limit_request_line = 8190
