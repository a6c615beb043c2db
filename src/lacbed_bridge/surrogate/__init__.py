"""surrogate stage."""
