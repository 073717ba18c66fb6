"""HTTP entry points (Chalice blueprints): the only chalicelib code that imports chalice."""
