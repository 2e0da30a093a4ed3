"""The outside world on loopback: a Shopify store, an email provider and shoppers, over simulated time.

It talks to the product only over HTTP and imports nothing from it, so it can judge the product: its event
log is the ground truth the product's KPIs are compared against.
"""
