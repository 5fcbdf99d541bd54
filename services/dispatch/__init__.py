"""dispatch: consumes requests, matches volunteers, single writer of request state."""
