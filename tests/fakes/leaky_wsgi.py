"""WSGI entry of a gateway that also knows the test-only `leaky` backend type (see
tests/fakes/leaky_backend.py): `gunicorn -c config/gunicorn.conf.py tests.fakes.leaky_wsgi:app`."""

from app import create_app
from app.backends import BACKEND_TYPES
from tests.fakes.leaky_backend import LEAKY

BACKEND_TYPES["leaky"] = LEAKY
app = create_app()
