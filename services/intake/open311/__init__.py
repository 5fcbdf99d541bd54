"""Open311 GeoReport v2 over the same menu and requests: jurisdiction_id is the district."""
