"""HTTP blueprints: parse, validate, call a service, let a schema shape the answer."""
