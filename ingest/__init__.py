"""Ingestion: source documents to chunks in ChromaDB and a lexical index.

The index contract (chunk schema, collection naming, embedding factory) lives here;
``server`` imports it, ``ingest`` never imports ``server``.
"""
