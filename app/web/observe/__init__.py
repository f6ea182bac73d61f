"""The residents' installable offline app at ``/observe`` (a progressive web app).

Plain JavaScript modules under ``static/``, a service worker that caches them with the species
and zones, so that the app opens with no network; records live in IndexedDB on the phone and
sync through the API's batch endpoints (docs/guide-residents.md).
"""
