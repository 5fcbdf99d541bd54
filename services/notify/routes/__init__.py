"""Notify's HTTP and WebSocket routes, one router per audience."""
