"""The scoring service: a FastAPI app with jobs kept in SQLite and a web UI
(``qualitylab serve``); see :mod:`qualitylab.serve.app`."""
