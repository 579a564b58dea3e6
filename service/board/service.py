"""The board has no commands: everything it shows is read in ``service.board.views``.

Kept so the board has the same layer files as every domain; a future command (pinning a notice, say)
goes here.
"""

from __future__ import annotations

__all__: list[str] = []
