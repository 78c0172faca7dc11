"""Service layer: routing requests to backends and shaping what comes back."""
