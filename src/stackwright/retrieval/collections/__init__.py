"""Collections and their documents: the service, the API and the CLI (`stackwright collections`, `stackwright ingest`)."""
