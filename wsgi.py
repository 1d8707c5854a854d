"""WSGI entry point: the only module-level application."""

from ticketing.app import create_app

app = create_app()
