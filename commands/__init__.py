"""The write side: the Ledger application, command messages and their handlers."""
