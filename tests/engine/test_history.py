"""History fitting: oldest turns go first, system and newest user turn stay."""

from types import SimpleNamespace

import pytest

from engine.errors import UserFacingError
from engine.formats import VICUNA
from engine.history import fit_history, split_turns
from engine.messages import assistant, system, user


def count_words(messages):
    return sum(len(m.content.split()) for m in messages)


def words(messages):
    """A measure for fit_history: the candidate's 'encoding', with its token count."""
    return SimpleNamespace(token_count=count_words(messages), kept=tuple(messages))


def conversation(turns):
    messages = [system("sys")]
    for index in range(turns):
        messages += [user(f"question {index} " + "x " * 8), assistant(f"answer {index} " + "y " * 8)]
    return messages + [user("newest question")]


def test_everything_kept_when_it_fits():
    messages = conversation(3)
    fitted = fit_history(messages, words, budget=1000)
    assert fitted.messages == tuple(messages)
    assert fitted.dropped_turns == 0
    assert fitted.prompt_tokens == count_words(messages)
    assert fitted.encoding.kept == tuple(messages)  # handed back, not measured again


@pytest.mark.parametrize("budget", [3, 15, 25, 35, 45, 55, 65])
def test_drops_oldest_whole_turns_only_as_many_as_needed(budget):
    messages = conversation(6)
    fitted = fit_history(messages, words, budget)
    kept = fitted.messages
    assert kept[0] == messages[0]  # the system prompt stays
    assert kept[-1] == messages[-1]  # the newest user turn stays
    assert count_words(kept) <= budget
    assert kept[1:] == tuple(messages[1 + 2 * fitted.dropped_turns:])  # a suffix of whole turns
    if fitted.dropped_turns:
        # dropping one turn fewer would not fit: nothing was dropped needlessly
        one_more = messages[:1] + messages[1 + 2 * (fitted.dropped_turns - 1):]
        assert count_words(one_more) > budget
    assert fitted.prompt_tokens == count_words(kept)
    assert fitted.encoding.kept == kept  # the encoding of exactly the kept messages


def test_newest_turn_alone_too_long_is_a_clear_error():
    messages = [system("sys"), user("a " * 50)]
    with pytest.raises(UserFacingError) as caught:
        fit_history(messages, words, budget=10)
    assert caught.value.code == "prompt_too_long"
    assert "51" in caught.value.message("en") and "10" in caught.value.message("ar")


def test_uses_few_renders():
    calls = []

    def counting(messages):
        calls.append(1)
        return words(messages)

    fit_history(conversation(200), counting, budget=60)
    assert len(calls) <= 12  # binary search, not one render per turn


def test_with_a_real_format_and_length_counter():
    messages = conversation(5)
    count = lambda ms: SimpleNamespace(token_count=len(VICUNA.render(ms).text))  # noqa: E731
    fitted = fit_history(messages, count, budget=count(messages).token_count - 10)
    assert fitted.dropped_turns == 1


def test_split_turns_and_bad_input():
    head, turns = split_turns(conversation(2))
    assert [m.role for m in head] == ["system"]
    assert [[m.role for m in t] for t in turns] == [["user", "assistant"]] * 2 + [["user"]]
    with pytest.raises(ValueError):
        fit_history([user("q"), assistant("a")], words, 10)


def test_a_reused_conversation_keeps_its_cut_and_trims_with_headroom():
    # Each turn of conversation() is 20 words; the system prompt 1, the newest 2.
    messages = conversation(6)  # 123 words
    fitted = fit_history(messages, words, budget=100, headroom=0.75)
    assert count_words(fitted.messages) <= 75 and fitted.dropped_turns == 3  # 63 words: room to grow
    assert fit_history(messages, words, budget=100).dropped_turns == 2  # without headroom: the least
    # A turn later the kept cut still fits (143 - 60 = 83 words: over 75, within 100): it stays.
    later = conversation(7)
    assert fit_history(later, words, budget=100, headroom=0.75, keep_dropped=3).dropped_turns == 3
    # Once it no longer fits (163 - 60 = 103), the history is trimmed to the headroom again.
    again = fit_history(conversation(8), words, budget=100, headroom=0.75, keep_dropped=3)
    assert again.dropped_turns == 5 and count_words(again.messages) == 63
    # A cut past the turns there are (a cleared conversation) is ignored.
    assert fit_history(conversation(2), words, budget=100, keep_dropped=5).dropped_turns == 0
