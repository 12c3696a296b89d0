"""ocpi-engine: an OCPI platform around an exact, high-throughput rating engine (`rust_core`)."""

__version__ = "0.1.0"
