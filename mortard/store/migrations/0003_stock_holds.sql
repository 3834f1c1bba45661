-- Stock holds shared by every daemon of a deployment (mortard/sync/reservations.py says why).
-- A hold is units an order's lines were routed to while Heartland doesn't commit them yet (the
-- order is still pending). It belongs to the order, and ends when Heartland commits the units (the
-- daemon releases it after opening the order) or, at the latest, in the transaction that ends the
-- order's lease (trigger below): a killed daemon's holds pass with its leases to the daemon that
-- takes its orders over, and end with that daemon's run.

-- Per (account, item, location): units held now, and units ever released (only grows).
CREATE TABLE stock_counters (
    account      text   NOT NULL,
    item_id      bigint NOT NULL,
    location_id  bigint NOT NULL,
    held         bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    released     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account, item_id, location_id)
);

CREATE TABLE stock_holds (
    shop         text    NOT NULL,
    order_id     bigint  NOT NULL,
    account      text    NOT NULL,
    item_id      bigint  NOT NULL,
    location_id  bigint  NOT NULL,
    qty          integer NOT NULL CHECK (qty > 0),
    held_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, order_id, account, item_id, location_id)
);

-- Every statement that locks counters locks them in (account, item_id, location_id) order, so two
-- orders holding or releasing several units at once never deadlock.

-- Holds change only under the order's lease: once another daemon has taken the order over, the
-- holds are its own. (A lease that ran out but wasn't taken is still this daemon's, as for the
-- journal's record: the next write renews it.)
CREATE FUNCTION mortard_check_lease(p_shop text, p_order_id bigint, p_owner text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM orders o WHERE o.shop = p_shop AND o.order_id = p_order_id
                   AND o.lease_owner = p_owner) THEN
        RAISE EXCEPTION 'order %/% is not leased by %', p_shop, p_order_id, p_owner USING ERRCODE = 'MH001';
    END IF;
END
$$;

-- Before a stock read: make the order's holds what its lines take in Heartland uncommitted
-- (p_own_*: units the order's distributed lines take while it is pending), then return the
-- totals of the items about to be read. Units no longer held count as released.
CREATE FUNCTION mortard_open_stock_read(p_account text, p_shop text, p_order_id bigint, p_owner text,
                                        p_items bigint[], p_own_items bigint[], p_own_locations bigint[],
                                        p_own_qty integer[])
RETURNS TABLE (r_item_id bigint, r_location_id bigint, r_held bigint, r_released bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(p_own_items) > 0
       OR EXISTS (SELECT 1 FROM stock_holds h WHERE h.shop = p_shop AND h.order_id = p_order_id) THEN
        PERFORM mortard_check_lease(p_shop, p_order_id, p_owner);
        INSERT INTO stock_counters (account, item_id, location_id)
        SELECT p_account, w.i, w.l FROM unnest(p_own_items, p_own_locations) AS w(i, l) ORDER BY w.i, w.l
        ON CONFLICT DO NOTHING;
        PERFORM 1 FROM stock_counters c
        WHERE c.account = p_account
          AND ((c.item_id, c.location_id) IN (SELECT * FROM unnest(p_own_items, p_own_locations))
               OR (c.item_id, c.location_id) IN (SELECT h.item_id, h.location_id FROM stock_holds h
                                                 WHERE h.shop = p_shop AND h.order_id = p_order_id
                                                   AND h.account = p_account))
        ORDER BY c.item_id, c.location_id FOR UPDATE;
        WITH target AS (
            SELECT w.i, w.l, w.q FROM unnest(p_own_items, p_own_locations, p_own_qty) AS w(i, l, q)
        ), current_ AS (
            SELECT h.item_id AS i, h.location_id AS l, h.qty AS q FROM stock_holds h
            WHERE h.shop = p_shop AND h.order_id = p_order_id AND h.account = p_account
        ), delta AS (
            SELECT coalesce(t.i, n.i) AS i, coalesce(t.l, n.l) AS l, coalesce(t.q, 0) - coalesce(n.q, 0) AS d
            FROM target t FULL JOIN current_ n ON n.i = t.i AND n.l = t.l
        )
        UPDATE stock_counters c SET held = c.held + d.d, released = c.released + greatest(-d.d, 0)
        FROM delta d WHERE c.account = p_account AND c.item_id = d.i AND c.location_id = d.l AND d.d <> 0;
        DELETE FROM stock_holds h
        WHERE h.shop = p_shop AND h.order_id = p_order_id AND h.account = p_account
          AND (h.item_id, h.location_id) NOT IN (SELECT * FROM unnest(p_own_items, p_own_locations));
        INSERT INTO stock_holds (shop, order_id, account, item_id, location_id, qty)
        SELECT p_shop, p_order_id, p_account, w.i, w.l, w.q
        FROM unnest(p_own_items, p_own_locations, p_own_qty) AS w(i, l, q)
        ON CONFLICT (shop, order_id, account, item_id, location_id) DO UPDATE SET qty = EXCLUDED.qty;
    END IF;
    RETURN QUERY
    SELECT c.item_id, c.location_id, c.held, c.released FROM stock_counters c
    WHERE c.account = p_account AND c.item_id = ANY(p_items);
END
$$;

-- Hold units for an order if they still fit the order's stock read:
--   read - held - (released - released_before) >= need   for every unit (a NULL read: no check),
-- `need` being what the plan took from the stock it saw (see mortard/sync/reservations.py).
-- All or nothing. Raises (SQLSTATE MH001) unless p_owner holds the order's lease. Returns the
-- units' totals after the call and whether they were held.
CREATE FUNCTION mortard_hold_stock(p_account text, p_shop text, p_order_id bigint, p_owner text,
                                   p_items bigint[], p_locations bigint[], p_qty integer[], p_need integer[],
                                   p_read bigint[], p_released_before bigint[])
RETURNS TABLE (r_item_id bigint, r_location_id bigint, r_held bigint, r_released bigint, r_granted boolean)
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    PERFORM mortard_check_lease(p_shop, p_order_id, p_owner);
    INSERT INTO stock_counters (account, item_id, location_id)
    SELECT p_account, w.i, w.l FROM unnest(p_items, p_locations) AS w(i, l) ORDER BY w.i, w.l
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM stock_counters c
    WHERE c.account = p_account AND (c.item_id, c.location_id) IN (SELECT * FROM unnest(p_items, p_locations))
    ORDER BY c.item_id, c.location_id FOR UPDATE;
    SELECT coalesce(bool_and(w.rd IS NULL OR w.n <= 0 OR w.rd - c.held - (c.released - w.rb) >= w.n), true) INTO ok
    FROM unnest(p_items, p_locations, p_need, p_read, p_released_before) AS w(i, l, n, rd, rb)
    JOIN stock_counters c ON c.account = p_account AND c.item_id = w.i AND c.location_id = w.l;
    IF ok THEN
        INSERT INTO stock_holds (shop, order_id, account, item_id, location_id, qty)
        SELECT p_shop, p_order_id, p_account, w.i, w.l, w.q FROM unnest(p_items, p_locations, p_qty) AS w(i, l, q)
        ON CONFLICT (shop, order_id, account, item_id, location_id)
        DO UPDATE SET qty = stock_holds.qty + EXCLUDED.qty;
        UPDATE stock_counters c SET held = c.held + w.q
        FROM unnest(p_items, p_locations, p_qty) AS w(i, l, q)
        WHERE c.account = p_account AND c.item_id = w.i AND c.location_id = w.l;
    END IF;
    RETURN QUERY
    SELECT c.item_id, c.location_id, c.held, c.released, ok
    FROM stock_counters c
    WHERE c.account = p_account AND (c.item_id, c.location_id) IN (SELECT * FROM unnest(p_items, p_locations));
END
$$;

-- End every hold of an order: its units move from held to released. Returns the units released.
CREATE FUNCTION mortard_release_stock(p_shop text, p_order_id bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM stock_holds h WHERE h.shop = p_shop AND h.order_id = p_order_id) THEN
        RETURN 0;     -- the common case at a lease's end: nothing held
    END IF;
    PERFORM 1 FROM stock_counters c
    JOIN stock_holds h ON h.account = c.account AND h.item_id = c.item_id AND h.location_id = c.location_id
    WHERE h.shop = p_shop AND h.order_id = p_order_id
    ORDER BY c.account, c.item_id, c.location_id FOR UPDATE OF c;
    WITH gone AS (
        DELETE FROM stock_holds h WHERE h.shop = p_shop AND h.order_id = p_order_id
        RETURNING h.account, h.item_id, h.location_id, h.qty
    ), moved AS (
        UPDATE stock_counters c SET held = c.held - g.qty, released = c.released + g.qty
        FROM gone g WHERE c.account = g.account AND c.item_id = g.item_id AND c.location_id = g.location_id
        RETURNING g.qty
    )
    SELECT coalesce(sum(qty), 0) INTO n FROM moved;
    RETURN n;
END
$$;

-- The lease's end (a run finished, or gave its order back) ends the order's holds in the same
-- transaction, so no crash can leave them behind. A takeover (one owner to another) keeps them.
CREATE FUNCTION mortard_lease_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mortard_release_stock(NEW.shop, NEW.order_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_lease_ended AFTER UPDATE OF lease_owner ON orders
FOR EACH ROW WHEN (OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL)
EXECUTE FUNCTION mortard_lease_ended();
