"""HTTP: the Docker Engine API network subset and container routes, and berth's own routes."""
