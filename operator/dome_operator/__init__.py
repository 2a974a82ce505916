"""The DOME operator: turns an Exchange custom resource into a running exchange."""
