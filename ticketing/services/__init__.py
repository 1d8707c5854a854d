"""Use cases: the application's workflows; they flush, never commit."""
