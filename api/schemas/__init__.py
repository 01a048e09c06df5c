"""Request and response shapes: checked at the edge, before anything reaches the ledger."""
