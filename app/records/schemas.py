"""What a record's review history looks like to its observer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ReviewPublic(BaseModel):
    """One decision of the CPIE on a record: the observer reads why."""

    decision: str = Field(examples=["needs_info"])
    comment: str | None = Field(examples=["Une photo du dessous des ailes ?"])
    created_at: datetime
