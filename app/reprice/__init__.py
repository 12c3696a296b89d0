"""Re-rating stored CDRs at scale (issue 10): runs cut into partitions that workers share through PostgreSQL."""
