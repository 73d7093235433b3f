"""Several demo.py replicas behind nginx over HTTPS, all writing to one PostgreSQL store: the pilot command
(`python -m deploy.pilot`), the nginx config template with sticky sessions and the "server stopped" page, the
certificate (the researcher's or a self-signed one) and a local PostgreSQL server. See deploy/README.md."""
