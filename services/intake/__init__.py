"""intake: the public HTTP API; validates requests and publishes them to Kafka."""
