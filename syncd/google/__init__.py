"""What the Google backends share: OAuth (auth) and the HTTP transport, errors and retries
(transport). Imported only when a Google backend is configured."""
