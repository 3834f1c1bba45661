"""Customers, addresses, payment types and custom fields: plain records with light validation."""
from __future__ import annotations

from typing import Any

from mortard.sandbox.errors import invalid
from mortard.sandbox.state import Account, Address, Customer, CustomField, PaymentType, now_iso
from mortard.sandbox.values import boolean, text

_CUSTOMER_FIELDS = ("first_name", "last_name", "email", "phone")
ADDRESS_FIELDS = ("first_name", "last_name", "company", "line_1", "line_2", "city", "state",
                  "postal_code", "country", "phone")


def create_customer(account: Account, body: dict[str, Any]) -> Customer:
    values = {key: text(body, key) for key in _CUSTOMER_FIELDS}
    customer = Customer(id=account.next_id("customer"), created_at=now_iso(), **values)
    account.customers[customer.id] = customer
    return customer


def update_customer(account: Account, customer: Customer, body: dict[str, Any]) -> None:
    try:
        for key in _CUSTOMER_FIELDS:
            if key in body:
                setattr(customer, key, text(body, key))
    finally:  # a refused field leaves the earlier ones set, so refile even then
        account.customers.reindex(customer)  # email and phone are looked up by index


def create_address(account: Account, customer: Customer, body: dict[str, Any]) -> Address:
    values = {key: text(body, key) for key in ADDRESS_FIELDS}
    address = Address(id=account.next_id("address"), customer_id=customer.id, values=values)
    account.addresses[address.id] = address
    return address


def create_payment_type(account: Account, body: dict[str, Any]) -> PaymentType:
    name = text(body, "name")
    if not name:
        raise invalid("name", "is required")
    if any(p.name == name for p in account.payment_types.values()):
        raise invalid("name", "has already been taken")
    payment_type = PaymentType(id=account.next_id("payment_type"), name=name)
    account.payment_types[payment_type.id] = payment_type
    return payment_type


def update_custom_field(account: Account, custom_field: CustomField, body: dict[str, Any]) -> None:
    if "required" in body:
        custom_field.required = boolean(body, "required", False)
    if "name" in body:
        custom_field.name = text(body, "name") or custom_field.name
