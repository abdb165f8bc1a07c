"""The embedded DNS server: a name table built from the controller's records (``names``), DNS
messages (``wire``), upstream forwarding (``forward``), the listening sockets inside sandboxes
(``listener``) and the server that ties them to berthd's event loop (``server``)."""
