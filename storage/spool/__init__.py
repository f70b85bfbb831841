"""The ingest spool: acknowledged requests on local disk until the flattener has stored them."""
