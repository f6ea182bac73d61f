"""What the survey modules share: how sites and visits are stored once per ``client_id``
(``records.lifecycle``) and how they are listed (``records.listing``).
"""

from __future__ import annotations

from app.records.lifecycle import Capture
from app.records.listing import Listing
from app.surveys.models import Site, Visit

# A site is stored once per (owner_id, client_id), a visit once per (observer_id, client_id).
SITE_CAPTURE = Capture(Site, owner="owner_id", in_flight="site.client_id_in_flight")
VISIT_CAPTURE = Capture(Visit, owner="observer_id", in_flight="visit.client_id_in_flight")

# Newest first (sites by creation, visits by their start), or oldest change first for sync; the
# cursor kinds of earlier versions, shared by both lists as they always were.
SITES = Listing(Site, own_time="created_at", newest_first="s", changes="c")
VISITS = Listing(Visit, own_time="started_at", newest_first="s", changes="c")
