"""Call-routing engine: skill queues, operators and callbacks, shared through Redis."""
