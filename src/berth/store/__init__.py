"""Snapshot stores: SQLite for local scope, in-memory for tests, etcd (later) for global scope."""
