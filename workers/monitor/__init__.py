"""The monitor: the poll cycle, the pushed path, the change->alert commit both use, and attribution."""
