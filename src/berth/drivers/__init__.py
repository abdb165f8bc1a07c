"""Network drivers: null, host, bridge (later macvlan, overlay, remote plugins), one interface."""
