"""The read side: functions that read read-model tables and return typed results."""
