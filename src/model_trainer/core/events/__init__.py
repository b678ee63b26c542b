"""Job lifecycle and training metrics events, and the sinks they go to."""
