"""Fixtures shared by the whole suite. Each fixture module lives in tests/support/."""
