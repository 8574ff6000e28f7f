"""Django's own test suite as request_settings' compatibility test (see run.py)."""
