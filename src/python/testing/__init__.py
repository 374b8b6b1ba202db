"""Helpers for the repository's tests."""
