"""The register: persons, registrations, permits and the officer's checks."""
