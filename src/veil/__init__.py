"""veil: field-level, purpose-aware data sharing with a tamper-evident disclosure ledger."""
