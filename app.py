"""openclaw-mux entry points: the HTTP API (blueprints), the inbound queue consumer and the events queue consumer."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from chalicelib import config, deployment, observability
from chalicelib.routes import admin, dashboard, instances, meta, outbound, pairings, tenant, webhooks

app = Chalice(app_name="openclaw-mux")
app.register_blueprint(meta.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(tenant.bp)
app.register_blueprint(pairings.bp)
app.register_blueprint(outbound.bp)
app.register_blueprint(webhooks.bp)
app.register_blueprint(instances.bp)
app.register_blueprint(dashboard.bp)
deployment.refuse_incomplete_cli_deploy()  # a no-op outside the `chalice` CLI


@app.middleware("http")
def request_context(event: Any, get_response: Any) -> Any:
    observability.clear_log_keys()
    observability.log_keys(path=event.path, method=event.method)
    try:
        return get_response(event)
    finally:
        observability.flush()


@app.on_sqs_message(queue=config.inbound_queue_name(), batch_size=10)
def handle_inbound_queue(event: Any) -> dict[str, Any]:
    """Forward queued platform events to tenants' OpenClaw; failures are reported per message."""
    from chalicelib.services import settle, worker

    context = getattr(event, "context", None)
    time_left = context.get_remaining_time_in_millis if context is not None else None
    batch = event.to_dict()
    return settle.settle(batch.get("Records", []), worker.handle_batch(batch, time_left))


@app.on_sqs_message(queue=config.events_queue_name(), batch_size=10)
def handle_events_queue(event: Any) -> dict[str, Any]:
    """Deliver queued control-plane events (signed POSTs to tenants' eventsUrl); failures retried with backoff."""
    from chalicelib import events_queue
    from chalicelib.services import event_delivery, settle

    batch = event.to_dict()
    records = batch.get("Records", [])
    return settle.settle(records, event_delivery.handle_batch(batch), events_queue.delete_batch)
