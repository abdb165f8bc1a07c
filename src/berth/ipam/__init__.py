"""Address management: pools and addresses, Docker's default IPAM semantics."""
