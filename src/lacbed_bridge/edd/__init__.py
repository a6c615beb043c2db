"""edd stage."""
