"""Intake's HTTP routes, one module per area; each only parses, authorises and calls a handler."""
