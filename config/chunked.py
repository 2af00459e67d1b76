"""Chunked request bodies (``Transfer-Encoding: chunked``) under WSGI servers that decode them.

Django sizes every request body by ``CONTENT_LENGTH``; a chunked request has none, so Django
reads it as empty, and the API answered a misleading 422 ("field required") to a body it never
saw. gunicorn decodes the chunks and says so with ``wsgi.input_terminated`` (the input ends at
the end of the body), so such a body can be read to its end here and handed to Django with its
length. At most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` + 1 bytes are read: a longer body keeps a length
over the limit, and Django refuses it as it refuses any body over the limit (the API's 413).
"""

from __future__ import annotations

import io

from django.conf import settings


def is_unsized_chunked(environ: dict) -> bool:
    return (
        bool(environ.get("wsgi.input_terminated"))
        and not environ.get("CONTENT_LENGTH")
        and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


class ChunkedBodyMiddleware:
    """WSGI middleware around Django's handler (config/wsgi.py)."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if is_unsized_chunked(environ):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            stream = environ["wsgi.input"]
            body = stream.read() if limit is None else stream.read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)
