"""admin: the gridctl command line for operators of the platform."""
