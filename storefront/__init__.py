"""Public HTTP app: subscribe, unsubscribe, click/open tracking, product-view events, Shopify webhooks."""
