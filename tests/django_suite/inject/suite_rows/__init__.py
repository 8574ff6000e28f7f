"""A tiny app for the harness's "rows" variant: a few all-hosts override rows in every test database."""
