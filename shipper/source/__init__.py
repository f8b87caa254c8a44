"""The source stage: finds the log files and their rotated backups (``files``, named as
``backups`` says), knows each file by its content (``identity``), follows them
(``tailer``) and cuts what they gain into lines (``line_decoder``)."""
