"""Unit tests: the app in-process, upstream HTTP faked."""
