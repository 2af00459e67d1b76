"""Engine endpoints of the JSON API (health for now)."""

from django.db import DatabaseError, connection
from ninja import Router, Schema, Status

from absurd_core import schema

router = Router(tags=["health"])


class Health(Schema):
    status: str
    database: str
    absurd_schema: str | None
    absurd_pinned: str


@router.get(
    "/health",
    response={200: Health, 503: Health},
    auth=None,
    summary="Service health",
    description="Whether the database is reachable and holds the pinned Absurd schema. "
    "Answers 503 when either is not the case.",
)
def health(request):
    try:
        current = schema.status(connection)
    except DatabaseError:
        return Status(
            503,
            Health(
                status="error",
                database="unreachable",
                absurd_schema=None,
                absurd_pinned=schema.PINNED_VERSION,
            ),
        )
    body = Health(
        status="ok" if current.matches else "error",
        database="ok",
        absurd_schema=current.installed,
        absurd_pinned=current.pinned,
    )
    return Status(200 if current.matches else 503, body)
