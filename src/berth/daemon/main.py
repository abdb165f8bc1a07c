"""Placeholder entry point until the daemon lands."""


def main() -> int:
    raise SystemExit("berthd is not built yet")
