"""Sematic's type system: casting rules compiled to C (see python/ext/types.c)."""
