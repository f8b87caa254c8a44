"""The sink stage: bulk-indexes batches into Elasticsearch (``bulk_sink``), with the index
template it installs first (``index_template``), fallbacks for what it refuses
(``shipper/fallback.py``) and the file of events it will not accept even then
(``dead_letter``)."""
