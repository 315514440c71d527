"""Format plugins (one file per format); the registry arrives with the export issue."""
