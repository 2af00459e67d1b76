import os

from django.core.wsgi import get_wsgi_application

from config.chunked import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Chunked request bodies are read to their end before Django sees them (config/chunked.py).
application = ChunkedBodyMiddleware(get_wsgi_application())
