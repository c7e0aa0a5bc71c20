"""Study access codes, stored only as salted scrypt hashes (hashlib, no extra package).

Codes are normalised before hashing so what a person types is what counts: surrounding
spaces are dropped and Arabic-Indic digits (٠-٩, ۰-۹) read as 0-9, so a rater on an Arabic
keyboard typing "١٢٣٤" enters the code "1234".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

# scrypt cost: 2^14 x 8 x 1 needs 16 MiB and ~50 ms per check; too slow to guess many codes
# per second, quick enough for a person logging in.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**14, 8, 1, 32
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)


def normalise_code(code: str) -> str:
    return unicodedata.normalize("NFC", code).translate(_DIGITS).strip()


def _scrypt(code: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(normalise_code(code).encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=2 * 128 * n * r * p, dklen=KEY_BYTES)


def hash_access_code(code: str) -> str:
    """"scrypt$n$r$p$salt_hex$key_hex": the parameters travel with the hash, so they can be
    raised later without breaking codes already stored."""
    salt = secrets.token_bytes(16)
    key = _scrypt(code, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${key.hex()}"


def check_access_code(code: str | None, stored: str | None) -> bool:
    """True when `code` matches `stored`; any code opens a study without one."""
    if stored is None:
        return True
    if not code:
        return False
    scheme, n, r, p, salt, key = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown access-code hash scheme {scheme!r}")
    candidate = _scrypt(code, bytes.fromhex(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, bytes.fromhex(key))  # constant time
