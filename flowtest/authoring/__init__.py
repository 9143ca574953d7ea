"""Tools for writing scenarios: validate, schema, record, init."""
