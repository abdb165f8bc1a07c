"""The only code that touches the OS. Everything else receives these adapters from a composition
root (daemon wiring, test fixtures) and sees only the protocols in ``berth.kernel.api``."""
