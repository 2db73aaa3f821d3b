"""Loaders that bring outside data (boundaries, historical reports) into the geodata store."""
