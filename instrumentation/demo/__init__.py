"""The demo shop: four instrumented services, its database, a load generator and a signal check."""
