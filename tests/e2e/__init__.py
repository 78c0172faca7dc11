"""End-to-end tests against real gunicorn processes."""
