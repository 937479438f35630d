"""CityHub: a city government data platform (Guangzhou default configuration)."""

__version__ = "0.1.0"
