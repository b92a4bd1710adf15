"""Configuration: the files in config/ read, validated (errors name file, line and field) and built into
domain objects once, at start-up. Below models/ in the import order (docs/architecture.md):
domain ← settings ← models ← notifications ← services ← flows ← api / complaints.

settings/source.py reads YAML keeping lines; settings/config.py holds the file schemas, checks and
`load_config`; settings/channels.py the delivery channels' file; settings/secrets.py secret references.
"""
