"""`mortard console hash-password`: asks for a password (twice, at a terminal; else one line on stdin)
and prints the hash to put in `[console.users.NAME] password_hash`."""
from __future__ import annotations

import getpass
import sys

from mortard.console.auth import hash_password
from mortard.operator.errors import UserError

MIN_LENGTH = 10


def hash_password_command() -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UserError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        raise UserError(f"the password is shorter than {MIN_LENGTH} characters")
    print(hash_password(password))
    return 0
