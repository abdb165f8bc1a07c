"""Frozen dataclasses, parsing and validation: the CNM vocabulary with no side effects."""
