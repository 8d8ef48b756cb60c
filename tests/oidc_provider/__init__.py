"""A real OpenID Connect provider for the single sign-on tests: an
authorization server built with django-oauth-toolkit, run by `serve.py` in a
process of its own on loopback, with its own settings and SQLite database."""
