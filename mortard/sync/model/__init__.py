"""The values the sync core reasons about: the Shopify order and its refunds, read from Shopify's JSON
(`order.py`, with its parts in `shopify.py` and the field readers in `shopify_json.py`), Heartland as
mortard knows it (`mirror.py`), the account's catalog and stock (`catalog.py`), and how these frozen
values are copied and serialised (`values.py`)."""
from mortard.sync.model.catalog import Catalog, Item, Location, Stock
from mortard.sync.model.mirror import HInvoice, HInvoiceLine, HLine, HPayment, HTicket, Mirror
from mortard.sync.model.order import Refund, ShopifyOrder
from mortard.sync.model.shopify import (
    Address, Customer, InvalidOrder, Payment, RefundLine, ShopifyLine, matching_address,
)
from mortard.sync.model.values import evolve, plain

__all__ = [
    "Address", "Catalog", "Customer", "HInvoice", "HInvoiceLine", "HLine", "HPayment", "HTicket", "InvalidOrder",
    "Item", "Location", "Mirror", "Payment", "Refund", "RefundLine", "ShopifyLine", "ShopifyOrder", "Stock",
    "evolve", "matching_address", "plain",
]
