"""Firewall at the level of intent: networks, published ports. The nftables backend renders them
into berth's own tables (pure renderer + thin applier)."""
