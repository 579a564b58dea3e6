"""Good conduct (村规民约 / 道德银行): the rules catalogue, claims under review and public notice, settings,
households and activity ratings. Micro-wishes live in ``service.wishes``, the board in ``service.board``."""
