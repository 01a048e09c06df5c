"""Read-model builders: one module per read model, the runner that feeds them, and their DDL."""
