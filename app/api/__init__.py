"""API blueprints, one per endpoint group."""
