"""`mortard orders list|show|retry|plan`."""
from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from mortard.operator.errors import UserError
from mortard.config import Config
from mortard.operator._db import STATES, database, find_order
from mortard.operator.diff import Names, action_text
from mortard.operator.render import cell, emit, fields_block, money, table, to_json, when
from mortard.store.order_lookup import ListedOrder, OrderRecord, list_orders
from mortard.store.order_timeline import LineRecord, load_timeline
from mortard.store.order_retry import RETRY_ACTION
from mortard.store.resolutions import RESOLVE_ACTION, resolution
from mortard.store.stats import orders_by_state
from mortard.store.watch import drift_for
from mortard.sync.states import DRIFT_KINDS


# -- list ------------------------------------------------------------------------------------------

async def orders_list(cfg: Config, args: argparse.Namespace) -> int:
    state = getattr(args, "state", None)
    shop = getattr(args, "shop", None)
    limit = getattr(args, "limit", 50)
    include_resolved = bool(getattr(args, "include_resolved", False))
    reason = getattr(args, "reason", None)
    if state is not None and state not in STATES:
        raise UserError(f"unknown state {state!r}: expected one of {', '.join(STATES)}")
    if limit <= 0:
        raise UserError(f"--limit must be at least 1, not {limit}")
    async with database(cfg) as db:
        rows = await list_orders(db, state=state, shop=shop, limit=limit, include_resolved=include_resolved,
                                 reason=reason)
        counts = await orders_by_state(db, shop)
    orders = [_list_entry(r) for r in rows]
    if args.json:
        emit(to_json({"orders": orders, "counts": counts}))
        return 0
    if not orders:
        emit("no orders" + (f" in state {state}" if state else "") + (f" with reason {reason}" if reason else "")
             + (f" for {shop}" if shop else ""))
    else:
        emit(table(("SHOP", "ORDER", "ID", "STATE", "SINCE", "ATTEMPTS", "REASONS", "LAST ERROR"),
                   [(o["shop"], o["order_name"], o["order_id"], o["state"] + (" (resolved)" if o["resolved"] else ""),
                     r.state_changed_at, o["attempts"],
                     "; ".join(f"{x['code']}: {x['message']}" for x in o["reasons"]) or None, o["last_error"])
                    for o, r in zip(orders, rows)],
                   max_widths={"SHOP": 32, "REASONS": 70, "LAST ERROR": 50}))
    total = sum(counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    emit(f"\n{len(orders)} shown of {counts.get(state, 0) if state else total}"
         + (f"; all orders by state: {summary}" if summary else ""))
    if counts.get("resolved") and not include_resolved:
        emit(f"{counts['resolved']} resolved order(s) left out (--include-resolved shows them)")
    return 0


def _list_entry(r: ListedOrder) -> dict[str, Any]:
    return {"shop": r.shop, "order_name": r.order_name, "order_id": r.order_id, "state": r.sync_state,
            "since": r.state_changed_at, "attempts": r.attempts, "reasons": reason_entries(r.pending_reasons),
            "last_error": r.last_error, "next_attempt_at": r.next_attempt_at,
            "heartland_order_id": r.heartland_order_id, "resolved": r.resolved}


def reason_entries(raw: Any) -> list[dict[str, str]]:
    return [{"code": str(x.get("code")), "message": str(x.get("message"))} for x in raw or [] if isinstance(x, Mapping)]


# -- show ------------------------------------------------------------------------------------------

async def orders_show(cfg: Config, args: argparse.Namespace) -> int:
    async with database(cfg) as db:
        row = await find_order(db, args.shop, args.order, set(cfg.shops))
        recorded = await load_timeline(db, row.shop, row.order_id)
        drift = [asdict(d) for d in await drift_for(db, row.shop, row.order_id)]
        resolved = await resolution(db, row.shop, row.order_id)
    names = _names_from_snapshot(row.snapshot, recorded.lines)
    events = [asdict(e) for e in recorded.events]
    journal = [asdict(j) for j in recorded.journal]
    documents = [asdict(d) for d in recorded.documents]
    history = [asdict(h) for h in recorded.history]
    doc = {
        "order": _order_summary(row),
        "events": events,
        "journal": [{**j, "summary": action_text(j["request"] or {"action": j["action"]}, names)} for j in journal],
        "documents": documents,
        "history": history,
        "drift": drift,
        "resolution": asdict(resolved) if resolved is not None else None,
    }
    if args.json:
        emit(to_json(doc))
        return 0
    emit(_show_text(doc, events, journal, documents, history, names))
    return 0


def _order_summary(row: OrderRecord) -> dict[str, Any]:
    mirror = row.mirror or {}
    return {
        "shop": row.shop, "order_id": row.order_id, "order_name": row.order_name,
        "state": row.sync_state, "since": row.state_changed_at, "attempts": row.attempts,
        "reasons": reason_entries(row.pending_reasons), "last_error": row.last_error,
        "next_attempt_at": row.next_attempt_at, "due": row.due_seq > row.done_seq,
        "due_seq": row.due_seq, "done_seq": row.done_seq,
        "lease_owner": row.lease_owner, "lease_until": row.lease_until,
        "heartland": {
            "account": row.heartland_account, "order_id": row.heartland_order_id,
            "status": mirror.get("status"), "customer_id": mirror.get("customer_id"),
            "invoice_ids": [i.get("id") for i in mirror.get("invoices") or []],
            "ticket_ids": [t.get("id") for t in mirror.get("tickets") or []],
            "lines": len(mirror.get("lines") or []), "mirror_dirty": row.mirror_dirty,
        },
        "first_event_at": row.first_event_at, "invoiced_at": row.invoiced_at,
        "snapshot_updated_at": row.snapshot_updated_at,
    }


def _names_from_snapshot(snapshot: Any, lines: Sequence[LineRecord]) -> Names:
    by_line: dict[int, str] = {}
    for li in (snapshot or {}).get("line_items") or []:
        if isinstance(li, Mapping) and isinstance(li.get("id"), int):
            label = str(li.get("sku") or li.get("title") or "")
            if label:
                by_line[li["id"]] = label
    items = {r.item_id: by_line[r.shopify_line_id] for r in lines if r.shopify_line_id in by_line}
    return Names(items=items, lines=by_line)


# Order of sources when two entries share a timestamp: what came in, what was sent, what it made, the verdict.
_RANK = {"event": 0, "heartland": 1, "created": 2, "state": 3, "note": 3}


def timeline(events: Sequence[Mapping[str, Any]], journal: Sequence[Mapping[str, Any]],
             documents: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]],
             names: Names = Names()) -> list[tuple[datetime, str, str]]:
    """(time, what, detail) for everything known about an order, oldest first."""
    out: list[tuple[datetime, int, int, str, str]] = []
    for e in events:
        text = f"{e['topic']}  {e['dedupe_key']}  kafka {e['kafka_topic']}[{e['kafka_partition']}]@{e['kafka_offset']}"
        out.append((e["received_at"], _RANK["event"], e["id"], "event", text + ("  STALE (older snapshot)" if e["stale"] else "")))
    for j in journal:
        answer = j["status"] + (f" {j['http_status']}" if j["http_status"] is not None else "")
        if j["heartland_id"] is not None:
            answer += f", id {j['heartland_id']}"
        if j["error"]:
            answer += f": {j['error']}"
        text = f"{action_text(j['request'] or {'action': j['action']}, names)}  → {answer}"
        out.append((j["sent_at"], _RANK["heartland"], j["id"], "heartland", text))
    for d in documents:
        text = f"{d['kind']} {d['heartland_id']}"
        if d["public_id"]:
            text += f" {d['public_id']}"
        if d["location_id"] is not None:
            text += f" at location {d['location_id']}"
        if d["amount"] is not None:
            text += f", amount {money(d['amount'])}"
        out.append((d["created_at"], _RANK["created"], d["id"], "created", text))
    for h in history:
        detail = h["detail"] or {}
        if h["kind"] == "state":
            text = f"{h['from_state'] or '-'} → {h['to_state']}"
            reasons = reason_entries(detail.get("reasons"))
            if reasons:
                text += "  (" + "; ".join(f"{r['code']}: {r['message']}" for r in reasons) + ")"
            if detail.get("error"):
                text += f"  error: {detail['error']}"
            if detail.get("action"):
                text += f"  [{detail['action']}" + (f" by {detail['by']}" if detail.get("by") else "") + "]"
            what = "state"
        else:
            said = note_in_words(detail) if h["kind"] == "note" else None
            text = said or cell(detail)
            if not said and (h["from_state"] or h["to_state"]):
                text = f"{h['from_state'] or '-'} → {h['to_state'] or '-'}  {text}"
            elif said and h["to_state"]:
                text += f"  (state {h['to_state']})"
            what = str(h["kind"])
        out.append((h["at"], _RANK.get(what, 3), h["id"], what, text))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [(t, what, text) for t, _, _, what, text in out]


def _show_text(doc: dict[str, Any], events: Any, journal: Any, documents: Any, history: Any, names: Names) -> str:
    o = doc["order"]
    h = o["heartland"]
    hl = []
    if h["order_id"] is not None:
        hl.append(f"order {h['order_id']}" + (f" ({h['status']})" if h["status"] else ""))
    if h["customer_id"] is not None:
        hl.append(f"customer {h['customer_id']}")
    if h["invoice_ids"]:
        hl.append("invoices " + ", ".join(str(i) for i in h["invoice_ids"]))
    if h["ticket_ids"]:
        hl.append("tickets " + ", ".join(str(i) for i in h["ticket_ids"]))
    leased = o["lease_owner"] and o["lease_until"]
    head = fields_block([
        ("order", f"{o['order_name'] or '-'} (id {o['order_id']}) of {o['shop']}"),
        ("state", f"{o['state']} since {when(o['since'])}" + (f", {o['attempts']} failed attempt(s)" if o["attempts"] else "")),
        ("resolved", _resolution_text(doc["resolution"]) if doc.get("resolution") else None),
        ("due", "yes: new events not yet worked" if o["due"] else None),
        ("next attempt", when(o["next_attempt_at"]) if o["next_attempt_at"] else None),
        ("worked by", f"{o['lease_owner']} (lease until {when(o['lease_until'])})" if leased else None),
        ("heartland", (f"account {h['account']}: " if h["account"] else "") + (", ".join(hl) or "nothing yet")
         + ("  [mirror will be re-read]" if h["mirror_dirty"] else "")),
        ("invoiced at", when(o["invoiced_at"]) if o["invoiced_at"] else None),
        ("last error", o["last_error"]),
    ])
    parts = [head]
    if o["reasons"]:
        parts.append("\nwaiting for:\n" + "\n".join(f"  - {r['code']}: {r['message']}" for r in o["reasons"]))
    if doc.get("drift"):
        parts.append("\nchanged in Heartland by hand (left as staff made it):\n" + "\n".join(
            f"  - {when(d['noticed_at'])} {d['kind']}: {DRIFT_KINDS.get(d['kind'], '')}\n      {_drift_text(d['detail'])}"
            for d in doc["drift"]))
    rows = timeline(events, journal, documents, history, names)
    parts.append(f"\ntimeline ({len(events)} event(s), {len(journal)} Heartland call(s), "
                 f"{len(documents)} document(s), {len(history)} state change(s)/note(s)):")
    parts.append(table(("TIME", "WHAT", "DETAIL"), rows, max_widths={"DETAIL": 140}, indent="  ") if rows
                 else "  (nothing recorded)")
    return "\n".join(parts)


def _resolution_text(r: Mapping[str, Any]) -> str:
    return f"by {r['by']} at {when(r['at'])}: {r['note']}  (it shows again when something new happens to it)"


# Operators' notes in words: who asked what (the shell's timeline and the console's).
_NOTE_TEXTS = {
    RETRY_ACTION: lambda d: f"retry asked by {d.get('by') or 'a shell command'}",
    RESOLVE_ACTION: lambda d: f"resolved by {d.get('by')}: {d.get('note')}",
}


def note_in_words(detail: Mapping[str, Any]) -> str | None:
    """An operator's note as a sentence, or None for a note that is not an operator's action."""
    said = _NOTE_TEXTS.get(str(detail.get("action")))
    return said(detail) if said else None


def _drift_text(detail: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in detail.items())


# -- plan (dry run) --------------------------------------------------------------------------------

async def orders_plan(cfg: Config, args: argparse.Namespace) -> int:
    from mortard.app import effective_shop_settings, heartland_account
    from mortard.config import ConfigError
    from mortard.heartland import HeartlandClient, HeartlandError
    from mortard.operator.dryrun import dry_run
    from mortard.store.orders import OrderStore
    from mortard.store.reservations import held_by_others

    if args.shop not in cfg.shops:
        raise UserError(f"shop {args.shop} is not in the config file; mortard can't plan for it "
                        f"(configured: {', '.join(sorted(cfg.shops)) or 'none'})")
    account = cfg.shops[args.shop].heartland_account
    async with database(cfg) as db:
        row = await find_order(db, args.shop, args.order, set(cfg.shops))
        journal = await OrderStore(db, owner="operator", lease_s=0).journal_entries(row.shop, row.order_id)
        held = await held_by_others(db, account, row.shop, row.order_id)
        try:
            settings = (await effective_shop_settings(db, {args.shop: cfg.shops[args.shop]}))[args.shop]
        except ConfigError as exc:
            raise UserError(f"the shop's stored settings are invalid: {exc}") from None
    # Postgres is closed before Heartland is read: nothing below can write to it.
    client = HeartlandClient(heartland_account(cfg, account), dialect=cfg.dialect)
    try:
        result = await dry_run(client, row, settings, cfg.dialect, journal, held)
    except HeartlandError as exc:
        raise UserError(f"Heartland account {account} could not be read: {exc}") from None
    finally:
        await client.close()

    p = result.plan
    doc = {
        "shop": row.shop, "order_id": row.order_id, "order_name": row.order_name,
        "public_id": result.public_id, "account": account, "current_state": row.sync_state,
        "heartland": result.heartland.to_json() if result.heartland is not None else None,
        "stored_mirror_matches": result.heartland == result.stored if result.heartland is not None else None,
        "reads": result.reads,
        "converged": not result.mutations,
        "state": p.state,
        "reasons": [{"code": r.code, "message": r.message} for r in p.reasons],
        "actions": [{**a.describe(), "text": action_text(a.describe(), result.names)} for a in result.mutations],
        "notes": result.notes,
    }
    if getattr(args, "json", False):
        emit(to_json(doc))
        return 0
    emit(_plan_text(doc, result))
    return 0


def _plan_text(doc: dict[str, Any], result: Any) -> str:
    out = [f"dry run for order {doc['order_name'] or '-'} (id {doc['order_id']}) of {doc['shop']}, "
           f"Heartland account {doc['account']}: nothing was sent, nothing was written",
           f"now: {doc['current_state']} in Postgres; in Heartland {_heartland_line(result.heartland, result)}"]
    if doc["stored_mirror_matches"] is False:
        out.append("note: Heartland differs from what Postgres remembers of it; the next run plans from Heartland")
    out += [f"note: {n}" for n in doc["notes"]]
    if doc["reads"]:
        out.append("read: " + "; ".join(doc["reads"]))
    if doc["actions"]:
        out.append(f"\nnext, mortard would send {len(doc['actions'])} change(s) to Heartland:")
        out += [f"  {a['text']}" for a in doc["actions"]]
        out.append(f"then plan again from Heartland's answers (the order is `{doc['state']}` meanwhile).")
    else:
        out.append(f"\nnothing to send: the order would be `{doc['state']}`")
        out += [f"  - {r['code']}: {r['message']}" for r in doc["reasons"]]
    return "\n".join(out)


def _heartland_line(m: Any, result: Any) -> str:
    if m is None:
        return "(not read)"
    if m.order_id is None:
        who = f"customer {m.customer_id}" if m.customer_id is not None else "no matching customer" \
            if m.customer_searched else "customer not looked up"
        return f"no order {result.public_id!r} yet ({who})"
    return (f"order {m.order_id} {result.public_id!r} is {m.status}, customer {m.customer_id}, "
            f"{len(m.lines)} line(s), tax {money(m.tax_total)}, shipping {money(m.shipping_charge)}, "
            f"payments {money(m.payments_total)} of total {money(m.order_total)}, "
            f"{len(m.invoices)} invoice(s), {len(m.tickets)} ticket(s)")


__all__ = ["orders_list", "orders_show", "orders_plan", "timeline"]
