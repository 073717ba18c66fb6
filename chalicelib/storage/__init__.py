"""DynamoDB storage: one on-demand table, every access pattern of CONTRACT §10.

Key design (table `MUX_TABLE_NAME`; partition key `pk`, sort key `sk`, both strings; TTL attribute
`expiresAt` in epoch seconds; one sparse GSI `gsi1` on `gsi1pk`/`gsi1sk`):

| item                  | pk                                          | sk          | gsi1pk / gsi1sk                      | TTL |
|-----------------------|---------------------------------------------|-------------|--------------------------------------|-----|
| tenant                | `TENANT#<tenantId>`                         | `TENANT`    | `TENANTS#<enabled or disabled>` / `<tenantId>` | |
| key hash → tenant     | `KEYHASH#<sha256(key) hex>`                 | `KEYHASH`   |                                      |     |
| route → binding lock  | `ROUTE#<routeKey>`                          | `ROUTE`     | `TBIND#<tenantId>` / `<createdAtMs:013d>#<bindingId>` | |
| route of a deleted tenant | `ROUTEGONE#<routeKey>`                  | `ROUTEGONE` |                                      | yes |
| binding id → route    | `BINDING#<bindingId>`                       | `BINDING`   |                                      |     |
| session route         | `SESSION#<tenantId>#<channel>#<sessionKey>` | `SESSION`   | `TSESSION#<tenantId>` / `<channel>#<sessionKey>` | |
| pairing token         | `PAIRTOKEN#<sha256(token) hex>`             | `PAIRTOKEN` | `TTOKEN#<tenantId>` / `<sha256(token) hex>` | yes |
| token id → token      | `PTOKENID#<tenantId>#<tokenId>`             | `PTOKENID`  | `TTOKEN#<tenantId>` / `id#<tokenId>` | yes |
| idempotency record    | `IDEMP#<tenantId>#<sha256(key) hex>`        | `IDEMP`     |                                      | yes |
| inbound dedupe record | `EVENT#<eventId>`                           | `EVENT`     |                                      | yes |
| inbound file → tenant | `FILE#<channel>#<fileId>`                   | `FILE`      |                                      | yes |
| queue message attempts| `ATTEMPTS#<SQS messageId>`                  | `ATTEMPTS`  |                                      | yes |
| JWT signing key       | `SIGNKEY#<kid>`                             | `SIGNKEY`   | `SIGNKEYS` / `<createdAtMs:015d>#<kid>` | once retired |
| down tenant's health  | `TENANTHEALTH#<tenantId>`                   | `TENANTHEALTH` |                                   | yes |
| message → tenant      | `MSG#<routeKey>#<ref>` (message id, `cbq:…`) | `MSG`      |                                      | 48 h |

Access patterns: tenant by id (GetItem; a runtime-JWT instance is a tenant in mode `jwt` keyed by its
openclawId, its key-hash item `KEYHASH#jwt:<id>`); every JWT signing key (one Query on gsi1 `SIGNKEYS`); tenant by key (GetItem on the key hash, then the tenant);
binding of a route (BatchGetItem of the topic route and its chat route: one round trip); a tenant's
bindings newest first (Query on gsi1, descending, paginated); tenants by status then id (Query on the gsi1
partitions `TENANTS#enabled` / `TENANTS#disabled`); a tenant's session routes and tokens, for its delete (Query
on gsi1); a binding by id (GetItem); the route of
`(tenant, channel, sessionKey)` (GetItem, or with everything else an outbound send checks in its one BatchGetItem:
`table.ReadSet`); may a tenant act on a message of its route (GetItem on the
message record, written with the send or in the inbound dedupe write's BatchWriteItem); token claim, unbind and key rotation are TransactWriteItems
with conditions, so no window exists where two tenants own one route or a token is consumed twice. A session
switch (`/bot_use`) is one TransactWriteItems too: the route lock's session key, the new session route (only if
absent or already this binding's) and the old one and its thread sessions deleted; a binding's thread sessions
are found by a Query on gsi1 `TSESSION#<tenantId>` with `begins_with(gsi1sk, "<channel>#<sessionKey>:")`.
A down tenant's health item is read only off the healthy path (GetItem), taken by one prober at a time
(UpdateItem conditional on the probe schedule it read) and deleted on recovery (DeleteItem returning the
parked heads to release).
A claimed pairing token is kept (marked with the claiming event id) as long as a dedupe record, so a
retried claim recognises its own success, and its status (claimed, with the binding and display fields)
stays readable by token id (GetItem on the pointer, then on the token); a revoke marks the token
(`revokedAtMs`), which the claim's condition refuses. moto does not expire TTL items, so every read of a TTL item also checks its expiry itself.
"""
