"""The columnar datastore: any table becomes a fast, queryable, downloadable API (Parquet + DuckDB)."""
