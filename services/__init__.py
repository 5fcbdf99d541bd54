"""The platform's services, one folder each."""
