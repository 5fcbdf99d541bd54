"""Code shared by every Grid Service Platform service: contracts, settings and adapters."""
