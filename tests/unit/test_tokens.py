import pytest

from backinstock import tokens

KEY = b"k" * 32


def test_a_token_carries_its_value():
    assert tokens.verify(KEY, tokens.CLICK, tokens.sign(KEY, tokens.CLICK, 1234)) == "1234"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token.replace(token[0], "A" if token[0] != "A" else "B", 1),  # another value
        lambda token: token[:-2],  # a shortened signature
        lambda token: "not-a-token",
        lambda token: "",
    ],
)
def test_forged_or_damaged_tokens_are_refused(tamper):
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, tokens.UNSUBSCRIBE, tamper(tokens.sign(KEY, tokens.UNSUBSCRIBE, 7)))


def test_a_token_cannot_be_used_for_another_purpose_or_with_another_key():
    token = tokens.sign(KEY, tokens.OPEN, 7)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, tokens.UNSUBSCRIBE, token)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(b"other" * 8, tokens.OPEN, token)
