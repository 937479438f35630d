"""Interoperability: DCAT-AP, Frictionless Data Packages and the CKAN data mapping."""
