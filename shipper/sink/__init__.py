"""The sink stage: bulk-indexes batches into Elasticsearch (``bulk_sink``), with the index
template it installs first (``index_template``) and the file of events it will never
accept (``dead_letter``)."""
