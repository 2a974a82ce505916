"""Generated gRPC stubs of the dome.v1 wire contract (`make proto`); do not edit."""
