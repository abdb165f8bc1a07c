"""The `berth` command: Docker's flags, talking to berthd over its unix socket."""
