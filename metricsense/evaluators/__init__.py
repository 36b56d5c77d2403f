"""Built-in evaluators, one plugin per rule family, registered like any third-party plugin."""
