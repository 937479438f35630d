"""Harvesting: other portals' catalogs (CKAN Action API, DCAT RDF) imported as read-only local datasets."""
