"""Writes of the store, one module per concern: customers, carts, checkout, stock,
prices, duplicates. Keyword-only functions, one transaction each."""
