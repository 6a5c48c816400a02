"""Sample data: batch files (users, transactions) and, later, the click event generator."""
