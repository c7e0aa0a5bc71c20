"""Arena errors are the engine's bilingual UserFacingError with a table of their own."""

import pytest

from arena.errors import MESSAGES, ArenaError
from engine.errors import UserFacingError


def test_arena_errors_share_the_bilingual_base_and_keep_their_own_codes():
    error = ArenaError("database_busy", seconds=5)
    assert isinstance(error, UserFacingError) and error.code == "database_busy"
    assert "5" in error.message("ar") and error.message("ar") != error.message("en")
    assert str(error) == error.message("en") == MESSAGES["database_busy"]["en"].format(seconds=5)
    with pytest.raises(KeyError):
        ArenaError("empty_message")  # an engine code is not an arena one
    with pytest.raises(KeyError):
        UserFacingError("database_busy")  # nor the other way round
