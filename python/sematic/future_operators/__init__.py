"""Operators on futures that create helper runs: indexing and tuple unpacking (API.md 2.2)."""
