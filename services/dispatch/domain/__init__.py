"""Pure dispatch domain: request states, matching, offers, SLA escalation and fairness. No I/O."""
