"""The sandbox's one exception: an API error rendered as Heartland's error body."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """`status=None` means "the dialect's validation status" (422 by default)."""

    def __init__(self, status: int | None, code: str, message: str,
                 details: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


def validation(message: str, details: dict[str, list[str]] | None = None) -> ApiError:
    return ApiError(None, "validation_error", message, details)


def invalid(field: str, text: str) -> ApiError:
    return validation(f"{field} {text}", {field: [text]})


def payment_error(message: str, details: dict[str, list[str]] | None = None) -> ApiError:
    return ApiError(None, "payment_error", message, details)


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "not_found", f"{what} {ident} not found")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)
