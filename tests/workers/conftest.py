"""Fixtures for the workers' tests; Redis comes from tests/conftest.py."""
