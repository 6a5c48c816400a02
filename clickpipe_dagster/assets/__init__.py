"""One module per zone: raw, processed, athena, rds (the marts), dashboards; keys and the job runner they share."""
