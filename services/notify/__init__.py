"""notify: fans status events out to residents, volunteers and operators."""
