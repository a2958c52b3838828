"""Entry points of Ray jobs: they reach QBT's service through its named actors."""
