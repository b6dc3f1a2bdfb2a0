"""A whole study from one file: its typed schema, its plan in words and the engine behind ``specct run``."""
