"""berthd: the composition root that owns state and kernel objects, and serves the API."""
