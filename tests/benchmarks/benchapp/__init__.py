"""A tiny app for the benchmarks: the trivial view and django-dynamic-preferences' registry."""
