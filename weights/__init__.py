"""The shipped weights (package data), found through this package: ``importlib.resources.files(__name__)``."""
