"""Loading and checking fixture files, and building account state from them (format: docs/sandbox.md)."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from mortard.heartland_contract.dialect import Dialect
from mortard.sandbox.faults import check_settings
from mortard.sandbox.records import ADDRESS_FIELDS
from mortard.sandbox.state import (Account, Address, Customer, CustomField, Item, Location,
                                   PaymentType, Rules, Station, now_iso)

DEFAULT_FIXTURE = Path(__file__).parent / "fixtures" / "default.json"
_TOP_KEYS = {"accounts", "rules", "faults", "description"}
_ACCOUNT_KEYS = {"token", "locations", "items", "inventory", "custom_fields", "payment_types",
                 "customers", "rules", "faults"}


class FixtureError(ValueError):
    """A fixture that cannot be loaded; the message names the offending entry."""


def load_fixture(source: dict[str, Any] | Path | str | None = None) -> dict[str, Any]:
    """Read (or take) a fixture and check it by building it once against the default dialect."""
    if source is None:
        source = DEFAULT_FIXTURE
    if isinstance(source, (str, Path)):
        try:
            data = json.loads(Path(source).read_text(), parse_float=Decimal)
        except (OSError, ValueError) as err:
            raise FixtureError(f"cannot read fixture {source}: {err}") from err
    else:
        data = source
    build_accounts(data, Dialect())
    fixture_faults(data)
    return data


def fixture_faults(fixture: dict[str, Any]) -> dict[str, Any]:
    """The fixture's `faults` (global, may hold `seed`) and accounts' `faults`, as a Faults config."""
    top = dict(fixture.get("faults") or {})
    config: dict[str, Any] = {"seed": top.pop("seed", 0), "global": top, "accounts": {}}
    for name, spec in fixture["accounts"].items():
        if spec.get("faults"):
            config["accounts"][name] = spec["faults"]
    try:
        check_settings(config["global"])
        for values in config["accounts"].values():
            check_settings(values)
    except ValueError as err:
        raise FixtureError(f"faults: {err}") from err
    return config


def build_accounts(fixture: dict[str, Any], dialect: Dialect) -> dict[str, Account]:
    if not isinstance(fixture, dict) or not isinstance(fixture.get("accounts"), dict):
        raise FixtureError("a fixture is an object with an `accounts` object")
    _no_unknown(fixture, _TOP_KEYS, "fixture")
    accounts = {}
    for name, spec in fixture["accounts"].items():
        try:
            accounts[name] = _build_account(name, spec, fixture.get("rules") or {}, dialect)
        except FixtureError as err:
            raise FixtureError(f"account {name}: {err}") from None
        except (KeyError, TypeError, ValueError, ArithmeticError) as err:
            raise FixtureError(f"account {name}: {type(err).__name__}: {err}") from None
    return accounts


def _no_unknown(spec: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(spec) - known
    if unknown:
        raise FixtureError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _money(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise FixtureError(f"not a price: {value!r}")
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _build_account(name: str, spec: dict[str, Any], rules: dict[str, Any],
                   dialect: Dialect) -> Account:
    _no_unknown(spec, _ACCOUNT_KEYS, "account")
    if not isinstance(spec.get("token"), str) or not spec["token"]:
        raise FixtureError("`token` must be a non-empty string")
    account_rules = Rules()
    account_rules.update(rules)
    account_rules.update(spec.get("rules") or {})
    account = Account(name, spec["token"], dialect, account_rules)
    for loc in spec.get("locations", []):
        location = Location(id=account.claim_id("location", loc.get("id")),
                            public_id=loc["public_id"], name=loc.get("name", loc["public_id"]))
        for st in loc.get("stations", []):
            station = Station(id=account.claim_id("station", st.get("id")),
                              name=st.get("name", location.name), location_id=location.id)
            location.stations.append(station)
            account.stations[station.id] = station
        account.locations[location.id] = location
    for raw in spec.get("items", []):
        price = _money(raw["price"])
        item = Item(id=account.claim_id("item", raw.get("id")), public_id=raw["public_id"],
                    description=raw.get("description", raw["public_id"]), price=price,
                    original_price=_money(raw.get("original_price", price)),
                    active=bool(raw.get("active", True)),
                    track_inventory=bool(raw.get("track_inventory", True)),
                    custom=dict(raw.get("custom") or {}))
        account.items[item.id] = item
    _unique([i.public_id for i in account.items.values()], "item public_id")
    _unique([loc.public_id for loc in account.locations.values()], "location public_id")
    _load_inventory(account, spec.get("inventory", []))
    for raw in spec.get("custom_fields", []):
        field = CustomField(id=account.claim_id("custom_field", raw.get("id")), key=raw["key"],
                            name=raw.get("name", raw["key"]), group_id=raw["group_id"],
                            required=bool(raw.get("required", False)),
                            unique=bool(raw.get("unique", False)),
                            validation_type=raw.get("validation_type", "text"))
        account.custom_fields[field.id] = field
    for raw in spec.get("payment_types", []):
        raw = {"name": raw} if isinstance(raw, str) else raw
        payment_type = PaymentType(id=account.claim_id("payment_type", raw.get("id")), name=raw["name"])
        account.payment_types[payment_type.id] = payment_type
    for raw in spec.get("customers", []):
        customer = Customer(id=account.claim_id("customer", raw.get("id")),
                            first_name=raw.get("first_name"), last_name=raw.get("last_name"),
                            email=raw.get("email"), phone=raw.get("phone"), created_at=now_iso())
        account.customers[customer.id] = customer
        for addr in raw.get("addresses", []):
            address = Address(id=account.claim_id("address", addr.get("id")), customer_id=customer.id,
                              values={k: addr.get(k) for k in ADDRESS_FIELDS})
            account.addresses[address.id] = address
    return account


def _load_inventory(account: Account, rows: list[dict[str, Any]]) -> None:
    items = {i.public_id: i.id for i in account.items.values()}
    locations = {loc.public_id: loc.id for loc in account.locations.values()}
    for row in rows:
        item_id = row["item_id"] if "item_id" in row else items.get(row["item"])
        location_id = row["location_id"] if "location_id" in row else locations.get(row["location"])
        if item_id not in account.items or location_id not in account.locations:
            raise FixtureError(f"inventory row names an unknown item or location: {row}")
        on_hand = row["on_hand"]
        if isinstance(on_hand, bool) or not isinstance(on_hand, int):
            raise FixtureError(f"inventory on_hand must be an integer: {row}")
        account.on_hand[(item_id, location_id)] = on_hand


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise FixtureError(f"duplicate {what} {value!r}")
        seen.add(value)
