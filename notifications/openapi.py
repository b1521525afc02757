"""The OpenAPI schema of the notification stream, an async view drf-spectacular does not
see: a postprocessing hook (SPECTACULAR_SETTINGS)."""

import copy

from core.openapi import error

STREAM_PATH = "/api/notifications/stream/"
STREAM_OPERATION = {
    "get": {
        "operationId": "api_notifications_stream_retrieve",
        "summary": "The caller's new notifications, live (Server-Sent Events)",
        "description": (
            "`text/event-stream`: one `notification` event per new notification (its "
            "`id` is the notification's id, its `data` the notification as the list "
            "shows it), and a `: keep-alive` comment when idle. A client that "
            "reconnects with `Last-Event-ID` first gets what it missed. Credentials: "
            "the session, `Authorization: Token <key>`, or `?token=` from POST "
            "/api/notifications/stream-token/ (for EventSource, which cannot send "
            "headers)."
        ),
        "tags": ["api"],
        "parameters": [
            {
                "name": "Last-Event-ID",
                "in": "header",
                "schema": {"type": "integer", "minimum": 0},
                "description": "The last notification id the client has.",
            },
            {
                "name": "last_event_id",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0},
                "description": "The same, for a first connection (EventSource).",
            },
            {
                "name": "token",
                "in": "query",
                "schema": {"type": "string"},
                "description": "A stream token (POST /api/notifications/stream-token/).",
            },
        ],
        "security": [{"tokenAuth": []}, {"cookieAuth": []}, {"streamToken": []}],
        "responses": {
            "200": {
                "description": "The stream; it does not end.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            "400": error("Last-Event-ID is not a notification id."),
            "401": error("No credentials, bad ones, or an expired stream token."),
        },
    }
}
STREAM_TOKEN_SCHEME = {
    "type": "apiKey",
    "in": "query",
    "name": "token",
    "description": "From POST /api/notifications/stream-token/; valid for a minute.",
}


def add_stream(result, generator, request, public):
    """drf-spectacular postprocessing hook: the notification stream, an async Django view
    (notifications.stream) that drf-spectacular does not see, described by hand."""
    # Copies: the hooks after this one add to what they find.
    result.setdefault("paths", {})[STREAM_PATH] = copy.deepcopy(STREAM_OPERATION)
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["streamToken"] = dict(STREAM_TOKEN_SCHEME)
    return result
