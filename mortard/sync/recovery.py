"""Crash and fault recovery: what mortard knows of an order after it lost track of Heartland.

What happens, step by step:

1. **Every mutation is journaled before it is sent** (`sync/journal.py`): a row with the request,
   status `sent`, durable in Postgres before the request leaves. What Heartland answered is recorded
   later, with the mirror it produced.
2. **A run loses track** when a mutation's outcome is unknown — a timeout, a reset, a 5xx on a
   write, a 201 without a usable `Location` (`HeartlandAmbiguous`) — or when the daemon dies
   between a send and the durable record of its answer (`kill -9`, a crash, a lost lease). Either
   way the journal holds rows still `sent` (or `ambiguous`), or the order row is marked
   `mirror_dirty`.
3. **The next run re-reads Heartland first** (`OrderMachine` before it plans; a lease left by a
   dead daemon expires, or is released at once when the same daemon instance restarts, and the
   sweeper hands the order to a live one). The read (`HeartlandPort.read_order`) uses only
   documented fields: the order by `public_id`, its lines (id, item, qty, prices, ship-from), taxes,
   payments, invoices by `order_id` with each invoice's lines, and tickets by the `public_id`s the
   journal says mortard may have created. A read that fails leaves the order waiting to retry; it
   never plans from a partial picture.
4. **`rebuild` (this module, pure) puts the picture together** from that reading, the journal and
   the mirror last stored:
   - a Heartland line is a Shopify line's when the stored mirror or an answered journal row says
     so; a line nobody knows is matched to a journaled `add_line` whose answer was lost (same
     item and prices; the same qty and ship-from preferred), which is how an ambiguous create is
     settled: landed, or not (and then planned again). A line the journal can't account for makes
     the order wait for a person (`Unaccounted`) rather than be edited around.
   - invoiced quantities come from the completed invoices' lines, matched to the order lines at
     the invoice's location by item, in line order (the way Heartland matches invoice lines that
     do not name an order line).
   - a ticket found by its `public_id` is the one the journal row of that name describes (which
     refund, which units sold).
   - a `Dialect` that assumes lines echo the Shopify line id or carry their invoiced quantity is
     used when on; nothing here needs it.
5. **The planner then plans from the rebuilt mirror**, so a step is re-sent only when Heartland does
   not hold it. A return ticket journaled but not found is pinned (`Recovered.pinned`): the machine
   stops, rather than send, if the re-plan would record that refund differently.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mortard.sync.journal import FAILED, UNSENT
from mortard.sync.model import Address, HInvoice, HInvoiceLine, HLine, HPayment, HTicket, Mirror, matching_address
from mortard.sync.ports import FoundCustomer, JournalEntry, OrderReading, ReadLine

ZERO = Decimal("0.00")
_NEVER_LANDED = (FAILED, UNSENT)   # a definite refusal, or never sent


@dataclass(frozen=True, slots=True)
class Recovered:
    mirror: Mirror
    # Creates the refresh found landed although their answer was lost: journal id -> Heartland id,
    # and the document each made (recorded with the journal's `resolve`).
    found: dict[int, int] = field(default_factory=dict)
    documents: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Refund id -> fingerprint of its return ticket as journaled, for tickets not found in Heartland.
    pinned: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unaccounted:
    """Heartland holds something mortard's journal cannot explain: a person must look."""

    message: str


def ticket_names(journal: Sequence[JournalEntry], known: Mirror) -> tuple[str, ...]:
    """Public ids of tickets mortard may have created and does not know the id of: the ones to look up."""
    have = {t.public_id for t in known.tickets}
    out: dict[str, None] = {}
    for e in journal:
        if e.action == "create_ticket" and e.status not in _NEVER_LANDED and e.heartland_id is None:
            name = str(e.request.get("public_id") or "")
            if name and name not in have:
                out[name] = None
    return tuple(out)


def open_addresses(journal: Sequence[JournalEntry], known: Mirror) -> bool:
    """Whether an address create may have landed without mortard seeing its id."""
    return known.customer_id is not None and any(
        e.action == "add_address" and e.status not in _NEVER_LANDED and e.heartland_id is None for e in journal)


def rebuild(reading: OrderReading | None, journal: Sequence[JournalEntry], known: Mirror,
            addresses: FoundCustomer | None = None) -> Recovered | Unaccounted:
    """The mirror Heartland's documented state and mortard's journal establish together."""
    if reading is None:
        return _not_created(journal, known, addresses)
    lines = _lines(reading, journal, known)
    if isinstance(lines, Unaccounted):
        return lines
    mapped, found = lines
    invoices, invoiced = _invoices(reading, mapped, journal)
    if isinstance(invoices, Unaccounted):
        return invoices
    hlines = []
    for ln, shopify_id in mapped:
        done = ln.qty_invoiced if ln.qty_invoiced is not None else invoiced.get(ln.id, 0)
        if ln.qty == 0 and done == 0:
            continue   # a removed line, where lines can't be deleted
        hlines.append(HLine(ln.id, shopify_id, ln.item_id, ln.qty, ln.unit_price, ln.original_price,
                            ln.location_id, done))
    tickets, ticket_found, pinned = _tickets(reading, journal, known)
    created, documents = _creates_found(journal, reading, invoices, ticket_found)
    payments, paid = _payments(reading, journal, known)
    mirror = Mirror(
        customer_searched=True, customer_id=reading.customer_id,
        billing_address_id=reading.billing_address_id, shipping_address_id=reading.shipping_address_id,
        order_id=reading.order_id, status=reading.status, lines=tuple(hlines), tax_total=reading.tax_total,
        shipping_charge=reading.shipping_charge, payments=payments, invoices=invoices,
        tickets=tickets, discount_total=reading.discount_total, custom=reading.custom)
    return Recovered(mirror, {**found, **created, **paid}, documents, pinned)


def _payments(reading: OrderReading, journal: Sequence[JournalEntry], known: Mirror
              ) -> tuple[tuple[HPayment, ...], dict[int, int]]:
    """The order's payments, each marked whether mortard made it: the stored mirror or an answered
    journal row says so, or it is a journaled add_payment whose answer was lost (same amount and
    payment type, oldest first). Any other payment was made in Heartland by hand (`by_staff`).
    Also the add_payment rows found landed (journal id -> Heartland id)."""
    mine = {p.id for p in known.payments if not p.by_staff}
    mine |= {e.heartland_id for e in journal if e.action == "add_payment" and e.heartland_id is not None}
    candidates = [e for e in journal if e.action == "add_payment" and e.heartland_id is None
                  and e.status not in _NEVER_LANDED]
    out: list[HPayment] = []
    found: dict[int, int] = {}
    for p in sorted(reading.payments, key=lambda p: p.id):
        if p.id in mine:
            out.append(HPayment(p.id, p.amount, p.payment_type_id))
            continue
        match = next((e for e in candidates if Decimal(str(e.request.get("amount"))) == p.amount
                      and int(e.request.get("payment_type_id") or 0) == p.payment_type_id), None)
        if match is not None:
            candidates.remove(match)
            found[match.id] = p.id
            out.append(HPayment(p.id, p.amount, p.payment_type_id))
        else:
            out.append(HPayment(p.id, p.amount, p.payment_type_id, by_staff=True))
    return tuple(out), found


# -- before the order exists ------------------------------------------------------------------------

def _not_created(journal: Sequence[JournalEntry], known: Mirror, found: FoundCustomer | None) -> Recovered | Unaccounted:
    if known.order_id is not None or any(e.action == "create_order" and e.heartland_id for e in journal):
        return Unaccounted("the Heartland sales order mortard created is no longer found by its public id")
    # A customer create may have landed unseen: searching again finds it (FindCustomer).
    mirror = Mirror(customer_searched=known.customer_id is not None, customer_id=known.customer_id,
                    billing_address_id=known.billing_address_id, shipping_address_id=known.shipping_address_id)
    ids: dict[int, int] = {}
    if found is not None and known.customer_id is not None:
        billing, shipping = mirror.billing_address_id, mirror.shipping_address_id
        listed = [{"id": i, **a.as_heartland()} for i, a in found.addresses]
        for e in journal:
            if e.action != "add_address" or e.status in _NEVER_LANDED or e.heartland_id is not None:
                continue
            asked = e.request.get("customer_id")
            # A row written ahead of the customer's create names a stand-in id (< 0) until answered.
            if asked != known.customer_id and not (isinstance(asked, int) and asked < 0):
                continue
            ident = matching_address(_address(e.request.get("fields") or {}), listed)
            if ident is None:
                continue
            ids[e.id] = ident
            role = e.request.get("role")
            billing = ident if role in ("billing", "both") else billing
            shipping = ident if role in ("shipping", "both") else shipping
        mirror = Mirror(customer_searched=mirror.customer_searched, customer_id=known.customer_id,
                        billing_address_id=billing, shipping_address_id=shipping)
    return Recovered(mirror, ids)


def _address(fields: Mapping[str, Any]) -> Address:
    return Address(**{k: str(fields.get(k) or "") for k in Address.__dataclass_fields__})


# -- lines ----------------------------------------------------------------------------------------

def _lines(reading: OrderReading, journal: Sequence[JournalEntry], known: Mirror
           ) -> tuple[list[tuple[ReadLine, int]], dict[int, int]] | Unaccounted:
    """Each Heartland line with the Shopify line it is for; and add_line rows found landed."""
    owner: dict[int, int] = {ln.id: ln.shopify_line_id for ln in known.lines}
    for e in journal:
        if e.action == "add_line" and e.heartland_id is not None:
            owner[e.heartland_id] = int(e.request["shopify_line_id"])
    candidates = [e for e in journal if e.action == "add_line" and e.heartland_id is None
                  and e.status not in _NEVER_LANDED]
    out: list[tuple[ReadLine, int]] = []
    found: dict[int, int] = {}
    for ln in sorted(reading.lines, key=lambda x: x.id):
        if ln.shopify_line_id is not None:        # Dialect.order_line_custom_key
            out.append((ln, ln.shopify_line_id))
            continue
        if ln.id in owner:
            out.append((ln, owner[ln.id]))
            continue
        match = _match_line(ln, candidates)
        if match is None:
            if ln.qty == 0:
                continue   # inert: nothing on it, nothing to account for
            return Unaccounted(f"Heartland order line {ln.id} (item {ln.item_id}, qty {ln.qty}) was not "
                               f"created by mortard: changed by hand?")
        candidates.remove(match)
        found[match.id] = ln.id
        out.append((ln, int(match.request["shopify_line_id"])))
    return out, found


def _match_line(ln: ReadLine, candidates: list[JournalEntry]) -> JournalEntry | None:
    """The journaled add_line this unknown line is: same item and prices; the same qty and ship-from
    if any is (a later update may have changed those), else the earliest."""
    same = [e for e in candidates if int(e.request["item_id"]) == ln.item_id
            and Decimal(str(e.request["unit_price"])) == ln.unit_price
            and Decimal(str(e.request["original_price"])) == ln.original_price]
    exact = [e for e in same if int(e.request["qty"]) == ln.qty and e.request.get("location_id") == ln.location_id]
    return (exact or same or [None])[0]


# -- invoices -------------------------------------------------------------------------------------

def _invoices(reading: OrderReading, mapped: Sequence[tuple[ReadLine, int]], journal: Sequence[JournalEntry]
              ) -> tuple[tuple[HInvoice, ...] | Unaccounted, dict[int, int]]:
    """The invoices with their lines tied to order lines, and units invoiced per order line (complete
    invoices only)."""
    journaled_at = {e.heartland_id: e.request.get("location_id") for e in journal
                    if e.action == "create_invoice" and e.heartland_id is not None}
    lines = sorted((ln for ln, _ in mapped), key=lambda x: x.id)
    taken: dict[int, int] = {}       # order line id -> units on any invoice (draft or complete)
    invoiced: dict[int, int] = {}    # order line id -> units on complete invoices
    out = []
    for inv in sorted(reading.invoices, key=lambda i: i.id):
        location = inv.location_id if inv.location_id is not None else journaled_at.get(inv.id)
        if location is None:
            return Unaccounted(f"invoice {inv.id} shows no location"), {}
        tied = []
        for il in inv.lines:
            for order_line_id, qty in _allocate(il.order_line_id, il.item_id, il.qty, int(location), lines, taken):
                tied.append(HInvoiceLine(il.id, order_line_id, qty))
                if inv.completed:
                    invoiced[order_line_id] = invoiced.get(order_line_id, 0) + qty
        out.append(HInvoice(inv.id, int(location), tuple(tied), inv.completed))
    return tuple(out), invoiced


def _allocate(order_line_id: int | None, item_id: int, qty: int, location: int, lines: Sequence[ReadLine],
              taken: dict[int, int]) -> Iterable[tuple[int, int]]:
    """Which order lines an invoice line's units are on: the one it names, else the first line of that
    item at that location with room for all of them, else spread over them in line order."""
    if order_line_id is not None:
        taken[order_line_id] = taken.get(order_line_id, 0) + qty
        return [(order_line_id, qty)]
    fits = [ln for ln in lines if ln.item_id == item_id and ln.location_id == location]
    whole = next((ln for ln in fits if ln.qty - taken.get(ln.id, 0) >= qty), None)
    if whole is not None:
        taken[whole.id] = taken.get(whole.id, 0) + qty
        return [(whole.id, qty)]
    out = []
    left = qty
    for ln in fits:
        room = min(left, ln.qty - taken.get(ln.id, 0))
        if room > 0:
            taken[ln.id] = taken.get(ln.id, 0) + room
            out.append((ln.id, room))
            left -= room
    if left > 0 and fits:   # more invoiced than the lines hold now: keep it on the last one
        taken[fits[-1].id] = taken.get(fits[-1].id, 0) + left
        out.append((fits[-1].id, left))
    return out


# -- tickets --------------------------------------------------------------------------------------

def _tickets(reading: OrderReading, journal: Sequence[JournalEntry], known: Mirror
             ) -> tuple[tuple[HTicket, ...], dict[int, int], dict[int, str]]:
    by_id: dict[int, HTicket] = {t.id: t for t in known.tickets}
    for e in journal:
        if e.action == "create_ticket" and e.heartland_id is not None and e.heartland_id not in by_id:
            by_id[e.heartland_id] = _ticket(e, e.heartland_id, None)
    latest: dict[str, JournalEntry] = {}
    for e in journal:
        if e.action == "create_ticket" and e.status not in _NEVER_LANDED and e.heartland_id is None:
            latest[str(e.request.get("public_id"))] = e
    present = {t.public_id: t for t in sorted(reading.tickets, key=lambda t: t.id)}
    found: dict[int, int] = {}
    pinned: dict[int, str] = {}
    for name, e in latest.items():
        t = present.get(name)
        if t is not None:
            if t.id not in by_id:
                by_id[t.id] = _ticket(e, t.id, t.total)
            found[e.id] = t.id
        elif e.request.get("refund_id") is not None:
            pinned[int(e.request["refund_id"])] = ticket_fingerprint(e.request)
    return tuple(sorted(by_id.values(), key=lambda t: t.id)), found, pinned


def _ticket(e: JournalEntry, ident: int, total: Decimal | None) -> HTicket:
    r = e.request
    if total is None:
        total = sum((Decimal(str(ln["unit_price"])) * int(ln["qty"]) for ln in r.get("lines") or ()),
                    Decimal(str(r.get("tax") or "0")))
    refund_id = r.get("refund_id")
    sold = tuple((int(a), int(b)) for a, b in r.get("sold") or ())
    return HTicket(ident, str(r["public_id"]), int(refund_id) if refund_id is not None else None,
                   Decimal(total), sold)


def ticket_fingerprint(request: Mapping[str, Any]) -> str:
    """What a return ticket records — its lines, tax, payment and restock — as a short fingerprint."""
    keep = {k: request.get(k) for k in ("refund_id", "lines", "tax", "payment", "restock")}
    text = json.dumps(keep, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- what the refresh found ---------------------------------------------------------------------------

def _creates_found(journal: Sequence[JournalEntry], reading: OrderReading, invoices: Sequence[HInvoice],
                   tickets: Mapping[int, int]) -> tuple[dict[int, int], dict[int, dict[str, Any]]]:
    """Journal rows of the order, invoice and ticket creates the refresh found landed, with the
    Heartland id and the document (for `heartland_documents`) of each."""
    found: dict[int, int] = {}
    docs: dict[int, dict[str, Any]] = {}
    open_rows = [e for e in journal if e.heartland_id is None and e.status not in _NEVER_LANDED]
    orders = [e for e in open_rows if e.action == "create_order"]
    if orders:
        found[orders[-1].id] = reading.order_id
        docs[orders[-1].id] = {"kind": "order", "public_id": orders[-1].request.get("public_id")}
    known_invoices = {e.heartland_id for e in journal if e.action == "create_invoice"}
    unmatched = [e for e in open_rows if e.action == "create_invoice"]
    for inv in invoices:
        row = None if inv.id in known_invoices else next(
            (e for e in unmatched if e.request.get("location_id") == inv.location_id), None)
        if row is not None:
            unmatched.remove(row)
            found[row.id] = inv.id
            docs[row.id] = {"kind": "invoice", "location_id": inv.location_id}
    by_row = {e.id: e for e in journal}
    for row, ident in tickets.items():
        r = by_row[row].request
        found[row] = ident
        docs[row] = {"kind": "ticket", "public_id": r.get("public_id"),
                     "detail": {"refund_id": r.get("refund_id"), "sold": r.get("sold") or []}}
    return found, docs
