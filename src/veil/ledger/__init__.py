"""The disclosure ledger."""
