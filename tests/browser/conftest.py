"""Browser fixtures (``browser``, ``page``) live in tests/conftest.py, shared with tests/e2e."""
