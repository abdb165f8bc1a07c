"""Lightweight containers: a sandbox plus a supervised process tree in its own namespaces."""
