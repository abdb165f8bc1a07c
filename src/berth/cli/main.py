"""Placeholder entry point until the CLI lands."""


def main() -> int:
    raise SystemExit("berth CLI is not built yet")
