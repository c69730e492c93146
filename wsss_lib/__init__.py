"""wsss-lab."""
