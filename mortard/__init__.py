"""mortard: keeps Heartland Retail sales orders in step with Shopify orders."""

__version__ = "0.1.0"
