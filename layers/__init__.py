"""Layers: turn the model into styled GeoJSON, legends and map exports (the one to-EPSG:4326 step)."""
