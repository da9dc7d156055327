"""The GraphQL layer: one module or folder per domain, merged into one Schema in `schema.schema`."""
