import json

from optimizer_pipeline.lib.testloop.conversions import hmac_hex
from optimizer_pipeline.lib.testloop.redaction import redact_line

SALT = b"r" * 32


def test_personal_values_become_salted_tokens_matching_the_parser_hashes():
    line = json.dumps(
        {
            "type": "identify",
            "userId": "user-42",
            "traits": {"email": " Jane.Doe@Example.com", "name": "Jane Doe", "plan": "pro"},
            "context": {"page": {"url": "https://shop.example.com/?ref=jane.doe@example.com"}},
        }
    )
    out = redact_line(line, SALT)
    for secret in ("user-42", "Jane", "jane.doe@example.com", "Example.com"):
        assert secret not in out
    assert f"hmac:{hmac_hex(SALT, 'user-42')[:16]}" in out  # the prefix of user_id_hash
    assert out.count(f"hmac:{hmac_hex(SALT, 'jane.doe@example.com')[:16]}") == 2  # trimmed, lower-cased
    assert '"plan": "pro"' in out and "https://shop.example.com/?ref=" in out  # everything else is kept


def test_broken_json_is_redacted_too_and_tokens_are_stable():
    line = '{"messageId": "x", "userId": "u\\"1", "email": "a@b.co", '
    out = redact_line(line, SALT)
    assert "a@b.co" not in out and 'u\\"1' not in out and out.endswith(", ")
    assert redact_line(out, SALT) == out  # already redacted values are left alone
    assert redact_line(line, b"s" * 32) != out  # the salt is per client
