"""The source stage: finds the log files and their rotated backups (``files``, named as
``backups`` says), tells them apart (``identity``: what a file is known by; ``file_matcher``:
which registry entry each file found is), follows them (``tailer``) and cuts what they gain
into lines (``line_decoder``)."""
