"""dprive: a DNS forwarder for home routers that carries every query over DNS-over-TLS."""

__version__ = "0.1.0"
