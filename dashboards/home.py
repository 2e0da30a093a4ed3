"""The console's front page: the pages this viewer may open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from dashboards import auth
from dashboards.web import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, _viewer: Annotated[auth.Viewer, Depends(auth.signed_in)]) -> HTMLResponse:
    return render(request, "home.html")
