"""What a record's review history looks like to its observer, and the answer to a batch of
records sent by a phone back online (observations, survey visits): one result per item."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.core.errors import FieldError


class ReviewPublic(BaseModel):
    """One decision of the CPIE on a record: the observer reads why."""

    decision: str = Field(examples=["needs_info"])
    comment: str | None = Field(examples=["Une photo du dessous des ailes ?"])
    created_at: datetime


class BatchStatus(StrEnum):
    created = "created"
    existing = "existing"
    rejected = "rejected"


class BatchResult(BaseModel):
    client_id: uuid.UUID | None = Field(
        description="As sent; null when the item carried no readable `client_id`."
    )
    status: BatchStatus
    id: uuid.UUID | None = Field(description="The stored observation; null when rejected.")
    errors: list[FieldError] = Field(
        default_factory=list,
        description="Why the item was rejected; field names are relative to the item.",
    )


class BatchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {
                            "client_id": "5d0c6f0e-8a63-4c1e-9d55-0f3b2a7e9c41",
                            "status": "created",
                            "id": "9a1e3c55-2f4b-4d7a-8e6c-1b2a3c4d5e6f",
                            "errors": [],
                        },
                        {
                            "client_id": "0e1d2c3b-4a59-4687-9f8e-7d6c5b4a3921",
                            "status": "rejected",
                            "id": None,
                            "errors": [
                                {
                                    "field": "latitude",
                                    "message": "Input should be less than or equal to 90",
                                    "code": "less_than_equal",
                                }
                            ],
                        },
                    ]
                }
            ]
        }
    )

    results: list[BatchResult]
