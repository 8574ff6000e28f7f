"""The app-settings helper of the test app: ``tests.helperapp.conf.settings``."""
