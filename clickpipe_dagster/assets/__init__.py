"""One module per zone: raw, processed (later athena, rds, quicksight)."""
