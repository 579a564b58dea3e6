"""Litestar's hello world, served by granian beside Jifen as the yardstick for ``GET /healthz``."""

from litestar import Litestar, MediaType, get


@get("/", media_type=MediaType.JSON)
async def hello() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[hello])
