"""The Flowdeck Django project. Importing it (as every process that runs
Django does, through its settings) makes the process safe from Python 3.11's
context-variable crash (webapp.gc_guard) and loads the Celery app."""

from webapp import gc_guard
from webapp.celery import app as celery_app

gc_guard.install()

__all__ = ["celery_app"]
