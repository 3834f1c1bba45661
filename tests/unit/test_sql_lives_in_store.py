"""All SQL lives in `mortard/store/`: no other module of the package holds a statement in a string.

A statement elsewhere couples that module to the schema behind store's back; put it in a query
module under `mortard/store/` (a constant and a small typed function) and call that instead.
The scan reads every string literal (f-string parts and docstrings too) with `ast`.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import mortard

PACKAGE = Path(mortard.__file__).resolve().parent
STORE = PACKAGE / "store"

# mortard's tables, from the migrations, so lower-case SQL naming one is caught too.
TABLES = sorted(set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)",
                               "\n".join(p.read_text() for p in (STORE / "migrations").glob("*.sql")))))
_TABLE = "|".join(TABLES) or "orders"

# Upper case is how the project writes SQL; prose rarely reads like this.
_STATEMENT = re.compile(r"""
      \bSELECT\s+(?:\*|\d|[a-z_("])
    | \bINSERT\s+INTO\b
    | \bUPDATE\s+\w+(?:\s+(?:AS\s+)?\w+)?\s+SET\b
    | \bDELETE\s+FROM\b
    | \bWITH\s+\w+\s+AS\s*\(
    | \bTRUNCATE\s+(?:TABLE\s+)?\w
    | \b(?:CREATE|ALTER|DROP)\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|SCHEMA|DATABASE|EXTENSION|FUNCTION|TRIGGER|SEQUENCE)\b
""", re.VERBOSE)
# Any case, when it names one of mortard's tables (within one paragraph: a blank line ends the search).
_SAME_PARAGRAPH = r"(?:(?!\n[ \t]*\n)[\s\S]){0,300}?"
_ON_A_TABLE = re.compile(rf"""
      \bselect\s{_SAME_PARAGRAPH}\bfrom\s+(?:{_TABLE})\b
    | \binsert\s+into\s+(?:{_TABLE})\b
    | \bupdate\s+(?:{_TABLE})\b{_SAME_PARAGRAPH}\bset\b
    | \bdelete\s+from\s+(?:{_TABLE})\b
""", re.VERBOSE | re.IGNORECASE)


def sql_in(text: str) -> str | None:
    """`text` from the first SQL statement in it on (70 characters, on one line), or None."""
    m = _STATEMENT.search(text) or _ON_A_TABLE.search(text)
    return " ".join(text[m.start():].split())[:70] if m else None


def sql_literals(path: Path) -> list[tuple[int, str]]:
    """(line, the SQL) for each string literal in the file that holds SQL."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            hit = sql_in(node.value)
            if hit:
                found.append((node.lineno, hit))
    return found


def modules_outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORE not in p.parents)


def test_no_module_outside_store_holds_sql():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}: {hit!r}"
                 for path in modules_outside_store() for line, hit in sql_literals(path)]
    assert not offenders, ("SQL outside mortard/store/ (move it into a query module there):\n  "
                           + "\n  ".join(offenders))


def test_the_scan_sees_every_module_and_the_sql_in_store():
    # Guards the guard: a scan that reads nothing, or patterns that match nothing, would pass above.
    scanned = {p.relative_to(PACKAGE).as_posix() for p in modules_outside_store()}
    assert {"app.py", "operator/orders.py", "demo/summary.py"} <= scanned
    assert not any(name.startswith("store/") for name in scanned)
    assert {"orders", "shops", "dead_letters", "journal"} <= set(TABLES)
    store_hits = {p.name for p in STORE.glob("*.py") if sql_literals(p)}
    assert {"orders.py", "inbox.py", "shops.py", "dead_letters.py", "stats.py"} <= store_hits


def test_the_patterns_catch_statements_and_leave_prose_alone():
    statements = [
        "SELECT 1", "SELECT * FROM orders WHERE shop = $1", "select sync_state from orders",
        "INSERT INTO shops (shop) VALUES ($1)", "UPDATE dead_letters d SET replayed_at = now()",
        "DELETE FROM events", "WITH c AS (SELECT id FROM journal) SELECT 1", "TRUNCATE orders",
        "CREATE INDEX x ON orders (shop)", "update orders\nset attempts = 0",
    ]
    assert [s for s in statements if sql_in(s) is None] == []
    prose = [
        "Select a store for each line", "an order-row update checked by every write", "UPDATE the mirror",
        "the daemon selects due orders from Postgres", "records that go to dead letters", "DELETE",
        "with a lease", "set the order's state",
        "Select the lines to send.\n\nThe answers come from orders in Heartland.",
    ]
    assert [p for p in prose if sql_in(p) is not None] == []
