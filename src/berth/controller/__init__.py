"""The CNM controller: lifecycles, transactions, and the one live copy of every object."""
