"""The rules of the product, independent of HTTP and of the queue: tenants, pairing, inbound, outbound."""
