"""WhatsApp (Cloud API): webhook verification, inbound parsing and notices, the Graph API sender."""
