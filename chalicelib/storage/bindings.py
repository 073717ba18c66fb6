"""Route bindings (the global route lock), binding ids, session routes and pairing-token claims."""

from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib import aws
from chalicelib.errors import InvalidInputError
from chalicelib.models import Binding
from chalicelib.storage import table

GSI = "gsi1"


class ClaimRefusedError(Exception):
    """The token is unknown/expired/used/for another channel, or the route belongs to another tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def binding_from_item(item: dict[str, Any]) -> Binding:
    return Binding(
        binding_id=item["bindingId"],
        tenant_id=item["tenantId"],
        channel=item["channel"],
        scope=item["scope"],
        route_key=item["routeKey"],
        session_key=item["sessionKey"],
        chat_id=item["chatId"],
        topic_id=item.get("topicId"),
        agent_id=item.get("agentId"),
        session_override=bool(item.get("sessionOverride", False)),
        created_at_ms=item["createdAtMs"],
        last_seen_at_ms=item.get("lastSeenAtMs"),
        display={k: v for k, v in (item.get("display") or {}).items() if isinstance(v, str)},
    )


def route_item(b: Binding) -> dict[str, Any]:
    return {
        **table.route_key(b.route_key),
        "type": "route",
        "bindingId": b.binding_id,
        "tenantId": b.tenant_id,
        "channel": b.channel,
        "scope": b.scope,
        "routeKey": b.route_key,
        "sessionKey": b.session_key,
        "chatId": b.chat_id,
        "topicId": b.topic_id,
        "agentId": b.agent_id,
        "sessionOverride": b.session_override,
        "createdAtMs": b.created_at_ms,
        "lastSeenAtMs": b.last_seen_at_ms,
        "display": b.display or None,
        "gsi1pk": table.tenant_bindings_gsi(b.tenant_id),
        "gsi1sk": f"{b.created_at_ms:013d}#{b.binding_id}",
    }


def _session_item(b: Binding, now_ms: int) -> dict[str, Any]:
    return {
        **table.session_key(b.tenant_id, b.channel, b.session_key),
        "type": "session",
        "tenantId": b.tenant_id,
        "channel": b.channel,
        "sessionKey": b.session_key,
        "routeKey": b.route_key,
        "bindingId": b.binding_id,
        "chatId": b.chat_id,
        "topicId": b.topic_id,
        "updatedAtMs": now_ms,
        # Indexed per tenant so deleting a tenant finds every session route (private threads included).
        "gsi1pk": table.tenant_sessions_gsi(b.tenant_id),
        "gsi1sk": f"{b.channel}#{b.session_key}",
    }


def routes_for(route_keys: list[str]) -> dict[str, Binding]:
    """The bindings of several routes in one round trip (most specific first is the caller's job)."""
    items = table.batch_get([table.route_key(r) for r in route_keys])
    return {i["routeKey"]: binding_from_item(i) for i in items if i.get("type") == "route"}


def get_route(route_key: str, reads: table.ReadSet | None = None) -> Binding | None:
    item = table.read(table.route_key(route_key), reads)
    return binding_from_item(item) if item else None


def get_by_id(binding_id: str) -> Binding | None:
    ref = table.get(table.binding_key(binding_id))
    if not ref:
        return None
    binding = get_route(ref["routeKey"])
    if binding is None or binding.binding_id != binding_id:
        return None
    return binding


def session_route(
    tenant_id: str, channel: str, session_key: str, reads: table.ReadSet | None = None
) -> dict[str, Any] | None:
    """The route a session key resolves to for outbound sends: routeKey, bindingId, chatId, topicId.

    A pointer, not an authority: it is written outside the claim transaction too (activity refreshes, thread
    sessions), so outbound trusts it only together with the route lock it names (ROUTE#routeKey still holding
    this tenant and bindingId). Any writer of session routes (claim, relocate, a session switch) may therefore
    leave a stale one behind without risk: it resolves to nothing once the route lock says otherwise."""
    return table.read(table.session_key(tenant_id, channel, session_key), reads)


def claim(
    *,
    token_hash: str,
    channel: str,
    binding: Binding,
    existing: Binding | None,
    now_ms: int,
    event_id: str = "",
    keep_claimed_sec: int = 8 * 86_400,
    replace: bool = False,
) -> Binding:
    """Consume a pairing token and bind the route in one transaction.

    Conditions: the token exists, is unclaimed, unrevoked, unexpired and was minted for this channel and tenant; the
    route is free, or already bound to the same tenant (its binding id is kept), or — with `replace` (the
    `/bot_switch` command) — still bound to exactly the binding we read. Any failed condition cancels
    everything, so the token stays usable and no route ever has two owners.

    The token is consumed by marking it claimed by `event_id` (kept `keep_claimed_sec`), not deleted: when
    the worker crashes after this commit and before the event's dedupe record, the retry of the same event
    finds the token claimed by itself and can answer success (`claimed_by_event`). The claim's binding id,
    route, session key and display fields stay on the token for its status (GET /v1/pairings/tokens/{id}).
    """
    same_tenant = existing is not None and existing.tenant_id == binding.tenant_id
    if existing is not None and same_tenant:
        binding = binding.model_copy(
            update={"binding_id": existing.binding_id, "created_at_ms": existing.created_at_ms}
        )
    route_condition: dict[str, Any]
    if existing is None or not (same_tenant or replace):
        route_condition = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        route_condition = {
            "ConditionExpression": "bindingId = :bid",
            "ExpressionAttributeValues": table.values(bid=existing.binding_id),
        }
    ops: list[dict[str, Any]] = [
        {
            "Update": {
                "Key": table.pairing_token_key(token_hash),
                "UpdateExpression": "SET claimedBy = :eid, claimedAtMs = :now, claimedBindingId = :bid, "
                "claimedRouteKey = :rk, claimedSessionKey = :sk, claimedDisplay = :disp, #ttl = :keep",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(claimedBy) "
                "AND attribute_not_exists(revokedAtMs) AND expiresAtMs > :now AND channel = :ch AND tenantId = :tid",
                "ExpressionAttributeNames": {"#ttl": table.TTL_ATTRIBUTE},
                "ExpressionAttributeValues": table.values(
                    now=now_ms, ch=channel, tid=binding.tenant_id, eid=event_id, bid=binding.binding_id,
                    rk=binding.route_key, sk=binding.session_key, disp=binding.display,
                    keep=now_ms // 1000 + max(keep_claimed_sec, TOKEN_STATUS_KEEP_SEC),
                ),
            }
        },
        {"Put": {"Item": route_item(binding), **route_condition}},
        {
            "Put": {
                "Item": {
                    **table.binding_key(binding.binding_id),
                    "type": "binding",
                    "routeKey": binding.route_key,
                    "tenantId": binding.tenant_id,
                }
            }
        },
        {"Put": {"Item": _session_item(binding, now_ms)}},
    ]
    if existing is not None and replace and not same_tenant:
        ops.append({"Delete": {"Key": table.binding_key(existing.binding_id)}})
    try:
        table.transact(ops)
    except Exception as exc:
        if not table.is_conditional_failure(exc):
            raise
        reasons = table.cancellation_reasons(exc)
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise ClaimRefusedError("route bound to another tenant") from None
        raise ClaimRefusedError("token invalid, expired, used or for another channel") from None
    if existing is not None and (existing.session_key != binding.session_key or not same_tenant):
        # The route moved to a new session key or tenant: its old session route must stop resolving to it.
        _delete_session_if_ours(existing)
    return binding


def _delete_session_if_ours(b: Binding) -> None:
    """Delete the session route of `b` unless it now points to another binding."""
    try:
        table.delete(
            table.session_key(b.tenant_id, b.channel, b.session_key),
            condition="bindingId = :bid",
            ExpressionAttributeValues=table.values(bid=b.binding_id),
        )
    except Exception as exc:
        if not table.is_conditional_failure(exc):
            raise


def unbind(binding: Binding) -> bool:
    """Remove a binding: route lock, id item and (when it still points here) its session route."""
    try:
        table.transact(
            [
                {
                    "Delete": {
                        "Key": table.route_key(binding.route_key),
                        "ConditionExpression": "bindingId = :bid",
                        "ExpressionAttributeValues": table.values(bid=binding.binding_id),
                    }
                },
                {"Delete": {"Key": table.binding_key(binding.binding_id)}},
            ]
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    _delete_session_if_ours(binding)
    return True


class SwitchRefusedError(Exception):
    """A session switch did not happen: `reason` is "in_use" (the target session routes to another chat) or
    "changed" (the binding changed meanwhile: unbound, switched or re-claimed; nothing was written)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Thread/topic sessions a switch removes inside its transaction (TransactWriteItems takes 100 items; the
# route lock and the two session routes use 3); any beyond are removed right after, each conditionally.
MAX_SUB_SESSIONS_IN_SWITCH = 96


def session_routes(tenant_id: str, channel: str, session_keys: list[str]) -> dict[str, dict[str, Any]]:
    """The session routes of several session keys in one round trip (session key → item; absent: none)."""
    items = table.batch_get([table.session_key(tenant_id, channel, k) for k in session_keys[:100]])
    return {str(i["sessionKey"]): i for i in items if i.get("type") == "session"}


def sub_session_keys(b: Binding) -> list[str]:
    """The per-thread/topic session keys (`<sessionKey>:thread:<n>`, `…:topic:<n>`) that route to `b`."""
    kwargs: dict[str, Any] = {
        "TableName": table.table_name(),
        "IndexName": GSI,
        "KeyConditionExpression": "gsi1pk = :p AND begins_with(gsi1sk, :prefix)",
        "ExpressionAttributeValues": table.values(
            p=table.tenant_sessions_gsi(b.tenant_id), prefix=f"{b.channel}#{b.session_key}:"
        ),
    }
    keys: list[str] = []
    while True:
        resp = aws.dynamodb().query(**kwargs)
        for raw in resp.get("Items", []):
            item = table.from_ddb(raw)
            if item.get("bindingId") == b.binding_id:
                keys.append(str(item["sessionKey"]))
        if not resp.get("LastEvaluatedKey"):
            return keys
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def switch_session(binding: Binding, session_key: str, agent_id: str | None, now_ms: int) -> Binding:
    """Point a bound chat at another session key, in one transaction:

    * the route lock's `sessionKey`, `agentId` and `sessionOverride` (false: the new key is derived), on
      condition that it still holds this binding with the session key we read;
    * the new session route (the session item, as a claim writes it), on condition that it is absent or
      already this binding's — so of two chats switching to one session at once exactly one wins;
    * the old session route and its thread/topic sessions deleted, each on condition that it still routes
      to this binding: outbound to the old keys answers 403 ROUTE_NOT_BOUND from the commit on.

    Raises SwitchRefusedError; nothing is written then."""
    moved = binding.model_copy(
        update={"session_key": session_key, "agent_id": agent_id, "session_override": False}
    )
    mine = table.values(bid=binding.binding_id)
    old = [binding.session_key] if session_route_points_here(binding) else []
    subs = sub_session_keys(binding)
    ops: list[dict[str, Any]] = [
        {
            "Update": {
                "Key": table.route_key(binding.route_key),
                "UpdateExpression": "SET sessionKey = :sk, agentId = :agent, sessionOverride = :no",
                "ConditionExpression": "bindingId = :bid AND sessionKey = :old",
                "ExpressionAttributeValues": table.values(
                    sk=session_key, agent=agent_id, no=False, bid=binding.binding_id, old=binding.session_key
                ),
            }
        },
        {
            "Put": {
                "Item": _session_item(moved, now_ms),
                "ConditionExpression": "attribute_not_exists(pk) OR bindingId = :bid",
                "ExpressionAttributeValues": mine,
            }
        },
    ]
    ops += [
        {
            "Delete": {
                "Key": table.session_key(binding.tenant_id, binding.channel, key),
                "ConditionExpression": "bindingId = :bid",
                "ExpressionAttributeValues": mine,
            }
        }
        for key in (old + subs)[: MAX_SUB_SESSIONS_IN_SWITCH + 1]
    ]
    if agent_id is None:
        # DynamoDB refuses a NULL in an expression value that is SET: remove the attribute instead.
        ops[0]["Update"]["UpdateExpression"] = "SET sessionKey = :sk, sessionOverride = :no REMOVE agentId"
        del ops[0]["Update"]["ExpressionAttributeValues"][":agent"]
    try:
        table.transact(ops)
    except Exception as exc:
        if not table.is_conditional_failure(exc):
            raise
        reasons = table.cancellation_reasons(exc)
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed" and reasons[0] != "ConditionalCheckFailed":
            raise SwitchRefusedError("in_use") from None
        raise SwitchRefusedError("changed") from None
    for key in (old + subs)[MAX_SUB_SESSIONS_IN_SWITCH + 1 :]:
        _delete_session_if_ours(binding.model_copy(update={"session_key": key}))
    return moved


def session_route_points_here(b: Binding) -> bool:
    item = table.get(table.session_key(b.tenant_id, b.channel, b.session_key))
    return item is not None and item.get("bindingId") == b.binding_id


def touch(
    binding: Binding,
    now_ms: int,
    *,
    refresh_session: bool,
    route_too: bool = True,
    display: dict[str, str] | None = None,
) -> None:
    """Record activity on a route; with `refresh_session` the session route is (re)pointed at it (a
    session key shared by several chats answers to the most recently active one). `display` fields seen in
    the message are merged over the stored ones in the same write (a renamed group shows its new title)."""
    if route_too:
        merged = {**binding.display, **(display or {})}
        expression = "SET lastSeenAtMs = :now" + (", display = :disp" if merged else "")
        extra = {"disp": merged} if merged else {}
        table.update(
            table.route_key(binding.route_key),
            expression,
            condition="bindingId = :bid",
            ExpressionAttributeValues=table.values(now=now_ms, bid=binding.binding_id, **extra),
        )
    if refresh_session:
        table.put(_session_item(binding, now_ms))


def update_chat_id(binding: Binding, new_chat_id: str, new_route_key: str) -> Binding:
    """A Telegram group migrated to a supergroup: move the route lock to the new chat id atomically."""
    moved = binding.model_copy(update={"chat_id": new_chat_id, "route_key": new_route_key})
    table.transact(
        [
            {
                "Delete": {
                    "Key": table.route_key(binding.route_key),
                    "ConditionExpression": "bindingId = :bid",
                    "ExpressionAttributeValues": table.values(bid=binding.binding_id),
                }
            },
            {"Put": {"Item": route_item(moved), "ConditionExpression": "attribute_not_exists(pk)"}},
            {
                "Put": {
                    "Item": {
                        **table.binding_key(moved.binding_id),
                        "type": "binding",
                        "routeKey": moved.route_key,
                        "tenantId": moved.tenant_id,
                    }
                }
            },
            {"Put": {"Item": _session_item(moved, moved.last_seen_at_ms or moved.created_at_ms)}},
        ]
    )
    return moved


# Queries one filtered page may take (a channel filter skips other channels' bindings): bounds the work of
# one request; a page that hit it is short but carries nextCursor.
FILTER_QUERY_ROUNDS = 5


def list_for_tenant(
    tenant_id: str, limit: int, cursor: str | None, channel: str | None = None
) -> tuple[list[Binding], str | None]:
    """A tenant's bindings, newest first, `limit` per page (of one channel when given), with an opaque
    cursor for the next page."""
    kwargs: dict[str, Any] = {
        "TableName": table.table_name(),
        "IndexName": GSI,
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": table.values(p=table.tenant_bindings_gsi(tenant_id)),
        "ScanIndexForward": False,
    }
    if channel is not None:
        kwargs["FilterExpression"] = "channel = :ch"
        kwargs["ExpressionAttributeValues"].update(table.values(ch=channel))
    start = _decode_cursor(cursor, tenant_id) if cursor else None
    items: list[Binding] = []
    last: dict[str, Any] | None = None
    for _ in range(FILTER_QUERY_ROUNDS if channel is not None else 1):
        # Limit counts the items read before the filter: asking for what is missing never overshoots the page.
        page = dict(kwargs, Limit=limit - len(items))
        if start:
            page["ExclusiveStartKey"] = start
        resp = aws.dynamodb().query(**page)
        items.extend(binding_from_item(table.from_ddb(i)) for i in resp.get("Items", []))
        last = resp.get("LastEvaluatedKey")
        if not last or len(items) >= limit:
            break
        start = last
    next_cursor = base64.urlsafe_b64encode(json.dumps(table.from_ddb(last)).encode()).decode() if last else None
    return items, next_cursor


def _decode_cursor(cursor: str, tenant_id: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(data, dict) or data.get("gsi1pk") != table.tenant_bindings_gsi(tenant_id):
            raise ValueError
        return table.to_ddb({k: str(data[k]) for k in ("pk", "sk", "gsi1pk", "gsi1sk")})
    except (ValueError, KeyError, TypeError):
        raise InvalidInputError("cursor is not a valid pagination cursor.", code="INVALID_CURSOR") from None


# A token's status stays answerable this long after it expires (or after its claim): the token item and
# its id pointer are kept, marked, until then.
TOKEN_STATUS_KEEP_SEC = 86_400


def put_token(
    token_hash: str,
    item: dict[str, Any],
    expires_at_ms: int,
    *,
    token_id: str | None = None,
    now_ms: int | None = None,
) -> None:
    """The token item (keyed by the secret's hash) and, with `token_id`, its id pointer (keyed by tenant
    and token id) for status reads and revoke.

    Two conditional puts, pointer last: if the second fails the request fails and the token, never shown
    to anyone, expires unused. The claim transaction touches the token item only."""
    tenant_id = str(item["tenantId"])
    keep = expires_at_ms // 1000 + TOKEN_STATUS_KEEP_SEC
    table.put(
        {
            **table.pairing_token_key(token_hash),
            "type": "pairtoken",
            **item,
            "tokenId": token_id,
            "createdAtMs": now_ms,
            # Indexed per tenant so deleting a tenant revokes its unclaimed tokens.
            "gsi1pk": table.tenant_tokens_gsi(tenant_id),
            "gsi1sk": token_hash,
            "expiresAtMs": expires_at_ms,
            table.TTL_ATTRIBUTE: keep,
        },
        condition="attribute_not_exists(pk)",
    )
    if token_id is None:
        return
    table.put(
        {
            **table.pairing_token_id_key(tenant_id, token_id),
            "type": "pairtokenid",
            "tenantId": tenant_id,
            "tokenHash": token_hash,
            "expiresAtMs": expires_at_ms,
            # In the tenant's token partition, so deleting the tenant removes the pointers with the tokens.
            "gsi1pk": table.tenant_tokens_gsi(tenant_id),
            "gsi1sk": f"id#{token_id}",
            table.TTL_ATTRIBUTE: keep + TOKEN_STATUS_KEEP_SEC,  # outlives a claim's extension of the token
        },
        condition="attribute_not_exists(pk)",
    )


def get_token(token_hash: str, now_ms: int) -> dict[str, Any] | None:
    """An unclaimed, unrevoked, unexpired token; or a claimed one (with `claimedBy`, the claiming event id)
    while it is kept, so a retried claim can recognise its own earlier success."""
    item = table.get(table.pairing_token_key(token_hash))
    if not item:
        return None
    # moto never expires TTL items; expiry is checked here, not trusted to TTL.
    if item.get("claimedBy") is not None:
        return item if int(item.get(table.TTL_ATTRIBUTE, 0)) * 1000 > now_ms else None
    if item.get("revokedAtMs") is not None:
        return None
    return item if int(item.get("expiresAtMs", 0)) > now_ms else None


def token_hash_for_id(tenant_id: str, token_id: str, now_ms: int) -> str | None:
    """The hash of the tenant's token with this id (one read), None for an unknown or another tenant's id."""
    ref = table.get(table.pairing_token_id_key(tenant_id, token_id))
    if not ref or int(ref.get(table.TTL_ATTRIBUTE, 0)) * 1000 <= now_ms:
        return None
    return str(ref["tokenHash"])


def token_record(token_hash: str) -> dict[str, Any] | None:
    """The token item as stored (claimed, revoked and expired ones included), strongly consistent."""
    return table.get(table.pairing_token_key(token_hash))


def revoke_token(token_hash: str, tenant_id: str, now_ms: int) -> bool:
    """Mark a pending token revoked; False when it is not pending any more (claimed, revoked, expired).
    The claim transaction's condition refuses a revoked token, so a revoke that returns True wins over any
    claim not yet committed."""
    try:
        table.update(
            table.pairing_token_key(token_hash),
            "SET revokedAtMs = :now",
            condition="attribute_exists(pk) AND tenantId = :tid AND attribute_not_exists(claimedBy) "
            "AND attribute_not_exists(revokedAtMs) AND expiresAtMs > :now",
            ExpressionAttributeValues=table.values(now=now_ms, tid=tenant_id),
        )
    except Exception as exc:
        if table.is_conditional_failure(exc):
            return False
        raise
    return True


def claimed_by_event(token: dict[str, Any], event_id: str, route: Binding | None) -> bool:
    """The token was claimed by this very event, and the route still holds the binding it made."""
    return (
        bool(event_id)
        and token.get("claimedBy") == event_id
        and route is not None
        and route.binding_id == token.get("claimedBindingId")
    )
