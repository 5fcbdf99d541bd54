"""console: the operators' web console — live queues, SLA, rates and system health for one district."""
