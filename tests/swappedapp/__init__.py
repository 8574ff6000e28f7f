"""A test app with a custom override model, installed only by tests/swapped_settings.py."""
