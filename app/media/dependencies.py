"""The media storage, as a dependency of the routes that read or write photo files."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.media.storage import Storage, storage_from_settings


def get_storage(request: Request) -> Storage:
    return storage_from_settings(request.app.state.settings)


StorageDep = Annotated[Storage, Depends(get_storage)]
