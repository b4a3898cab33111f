"""The serving model: version, metrics and its model card. Not personal data; any authenticated role."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from riskscore.api.schemas import ErrorBody, ModelInfo
from riskscore.errors import NotFoundError
from riskscore.service.deps import BundleDep, PrincipalDep

router = APIRouter(prefix="/v1/models", tags=["models"])

CARD_FILES = ("model_card.html", "model_card.md")
MSG_NO_CARD = "the serving model carries no model card"


def _card(loaded: BundleDep) -> tuple[str, str] | None:
    if loaded.folder is None:
        return None
    for name in CARD_FILES:
        path = loaded.folder / name
        if path.is_file():
            return name, path.read_text(encoding="utf-8")
    return None


@router.get("/current", response_model=ModelInfo, summary="The serving model's version and metrics.",
            responses={401: {"model": ErrorBody}, 503: {"model": ErrorBody}})
def current(request: Request, loaded: BundleDep, principal: PrincipalDep) -> ModelInfo:
    b = loaded.bundle
    meta = dict(b.metadata)
    metrics = meta.pop("metrics", {}) if isinstance(meta.get("metrics"), dict) else {}
    has_card = loaded.folder is not None and any((loaded.folder / n).is_file() for n in CARD_FILES)
    return ModelInfo(version=b.version, features=list(b.features), band_thresholds=dict(b.band_thresholds),
                     metrics=metrics, metadata=meta, loaded_at=loaded.loaded_at,
                     card_url=str(request.url_for("model_card").path) if has_card else None)


@router.get("/current/card", name="model_card", summary="The model card (HTML, else Markdown).",
            response_class=Response, responses={404: {"model": ErrorBody}})
def card(loaded: BundleDep, principal: PrincipalDep) -> Response:
    found = _card(loaded)
    if found is None:
        raise NotFoundError(MSG_NO_CARD)
    name, text = found
    if name.endswith(".html"):
        return HTMLResponse(text)
    return Response(text, media_type="text/markdown; charset=utf-8")
