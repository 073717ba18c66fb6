"""WhatsApp (Cloud API) channel."""
