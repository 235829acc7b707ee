"""Who may do what: accounts, tokens, their scope and refusals, the audit trail."""
