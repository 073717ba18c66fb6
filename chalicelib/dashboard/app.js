// openclaw-mux reference dashboard: sign in with a tenant key, pair a chat, watch it pair, list and unbind chats.
//
// This file is the worked example a control-plane engineer copies. Every HTTP call the page makes is one
// function in the "API calls" section below, with the route, its body and its answer as CONTRACT §3.3 defines
// them. No framework, no third-party code; the page's Content-Security-Policy forbids anything but this file.
//
// Two rules the example follows on purpose:
// * The tenant key lives in this tab's sessionStorage only (gone when the tab closes; never localStorage or a
//   cookie, so no other tab or request carries it) and is sent only as `Authorization: Bearer` to this mux.
// * Text from chats (titles, user names) is attacker-controlled: it is only ever set with textContent.
"use strict";

const KEY_STORAGE = "openclaw-mux.tenantKey";
const LONG_POLL_MS = 20000;     // the status route answers as soon as the status changes, or after this
const FALLBACK_POLL_MS = 2000;  // only when the mux predates tokenId: poll the bindings list and diff it

// The API's base URL, derived from the page's own location: "/dashboard" locally, "/<stage>/dashboard" behind
// API Gateway. Every API path below is relative to it, so the same file works in both places.
function apiBase() {
  const path = window.location.pathname.replace(/\/dashboard\/?$/, "/");
  return window.location.origin + (path.endsWith("/") ? path : path + "/");
}

// ---------------------------------------------------------------------------------------------------------
// API calls: one function per route. Each returns the parsed JSON answer or throws an ApiError.
// ---------------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The one place that talks HTTP: bearer auth, JSON in and out, the contract's error body
// {"ok": false, "error": "<sentence>", "code": "<CODE>"} turned into an ApiError.
async function call(method, path, body, signal) {
  const headers = { "Authorization": "Bearer " + tenantKey() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiBase() + path, {
      method, headers, signal,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",  // the bearer is the only credential; no cookies either way
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "NETWORK", "The mux could not be reached.");
  }
  let data = null;
  try { data = await response.json(); } catch (_) { /* a non-JSON answer (e.g. a gateway error page) */ }
  if (!response.ok) {
    const code = (data && data.code) || "HTTP_" + response.status;
    const message = (data && data.error) || "The mux answered " + response.status + ".";
    throw new ApiError(response.status, code, message);
  }
  return data || {};
}

// GET /v1/pairings?limit=&channel=&cursor= → {"items": [{bindingId, channel, scope, routeKey, sessionKeys,
// createdAtMs, lastSeenAtMs, displayName, chatTitle, chatType, topicName, userName, userHandle}], "nextCursor"},
// newest first. Also the sign-in check: a wrong key answers 401.
async function listBindings(channel, cursor) {
  const query = new URLSearchParams({ limit: "100" });
  if (channel) query.set("channel", channel);
  if (cursor) query.set("cursor", cursor);
  return call("GET", "v1/pairings?" + query.toString());
}

// GET /v1/mux/sessions → {"items": [{sessionKey, channel, routeKey, lastSeenAtMs, agentId, source}]}: sessions the
// mux has seen for the tenant (source "seen") and agents it declared at bootstrap (source "declared").
async function listSessions() {
  return call("GET", "v1/mux/sessions");
}

// POST /v1/pairings/token?qr=svg {channel, sessionKey? | agentId?} → {channel, token, tokenId, expiresAtMs,
// startCommand, deepLink, instructions, qrSvg}. startCommand/deepLink (and so the QR) are Telegram's; other
// channels answer instructions instead.
async function createToken(channel, session) {
  const body = { channel };
  if (session && session.source === "declared" && session.agentId) body.agentId = session.agentId;
  else if (session && session.sessionKey) body.sessionKey = session.sessionKey;
  return call("POST", "v1/pairings/token?qr=svg", body);
}

// GET /v1/pairings/tokens/{tokenId}?waitMs= → {tokenId, status: "pending"|"claimed"|"expired"|"revoked",
// expiresAtMs, and once claimed bindingId, routeKey, sessionKey and the chat's display fields}.
// Long-poll: the answer comes as soon as the status changes, or after waitMs with the status unchanged.
async function getTokenStatus(tokenId, waitMs, signal) {
  const query = new URLSearchParams({ waitMs: String(waitMs) });
  return call("GET", "v1/pairings/tokens/" + encodeURIComponent(tokenId) + "?" + query.toString(), undefined, signal);
}

// POST /v1/pairings/tokens/{tokenId}/revoke → the token's status (revoked): the link stops working at once.
async function revokeToken(tokenId) {
  return call("POST", "v1/pairings/tokens/" + encodeURIComponent(tokenId) + "/revoke", {});
}

// POST /v1/pairings/unbind {bindingId} → {"ok": true}; the chat is no longer forwarded.
async function unbind(bindingId) {
  return call("POST", "v1/pairings/unbind", { bindingId });
}

// ---------------------------------------------------------------------------------------------------------
// The tenant key: this tab's sessionStorage only.
// ---------------------------------------------------------------------------------------------------------

function tenantKey() { return window.sessionStorage.getItem(KEY_STORAGE) || ""; }
function saveKey(key) { window.sessionStorage.setItem(KEY_STORAGE, key); }
function forgetKey() { window.sessionStorage.removeItem(KEY_STORAGE); }

// ---------------------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
let sessions = [];        // from listSessions(), for the session picker
let pairing = null;       // {tokenId, expiresAtMs, controller} of the link on screen
let knownBindings = null; // bindingIds seen before the link was made (fallback when the mux has no tokenId)

function show(signedIn) {
  $("signin").hidden = signedIn;
  $("app").hidden = !signedIn;
}

function setText(id, text) { $(id).textContent = text; }

function when(ms) { return ms ? new Date(ms).toLocaleString() : ""; }

// A binding's human name from its display fields (displayName is the mux's one-line summary); a mux without
// display fields: the route key.
function chatName(item) {
  if (item.displayName) return item.displayName;
  const parts = [item.chatTitle, item.userName, item.userHandle ? "@" + item.userHandle : ""].filter(Boolean);
  if (item.topicName) parts.push("› " + item.topicName);
  return parts.length ? parts.join(" ") : item.routeKey;
}

function chatType(item) {
  return item.chatType || item.scope || "";
}

async function signIn(event) {
  event.preventDefault();
  setText("signin-error", "");
  const key = $("tenant-key").value.trim();
  if (!key) return;
  saveKey(key);
  try {
    await listBindings("");
  } catch (err) {
    forgetKey();
    setText("signin-error", err.status === 401 ? "That tenant key is not valid." : err.message);
    return;
  }
  $("tenant-key").value = "";
  await enter();
}

async function enter() {
  show(true);
  await Promise.all([loadSessions(), refreshBindings()]);
  $("pair-button").focus();
}

function signOut() {
  stopWatching();
  forgetKey();
  sessions = [];
  $("pairing").hidden = true;
  $("bindings-body").replaceChildren();
  show(false);
  $("tenant-key").focus();
}

async function loadSessions() {
  try {
    sessions = (await listSessions()).items || [];
  } catch (_) {
    sessions = [];  // an older mux without the route: the default (the chat's own session) still works
  }
  fillSessions();
}

// The session picker. A declared agent (source "declared") is offered as agentId: each chat then gets its own
// agent:<id>:… session. A seen session is offered as sessionKey, used verbatim: the new chat shares it with the
// chat already on it (replies go to the most recently active one), so the label says so.
function fillSessions() {
  const channel = $("channel").value;
  const options = [new Option("The chat's own session (default)", "")];
  sessions.forEach((s, i) => {
    if (s.channel && s.channel !== channel) return;
    const declared = s.source === "declared" && s.agentId;
    const label = declared ? "Agent " + s.agentId + " (the chat's own session)"
      : "Share " + s.sessionKey + (s.routeKey ? " (with " + s.routeKey + ")" : "");
    options.push(new Option(label, String(i)));
  });
  $("session").replaceChildren(...options);
}

async function pair(event) {
  event.preventDefault();
  setText("pair-error", "");
  stopWatching();
  const index = $("session").value;
  const session = index === "" ? null : sessions[Number(index)];
  let answer;
  try {
    knownBindings = new Set(((await listBindings("")).items || []).map((b) => b.bindingId));
    answer = await createToken($("channel").value, session);
  } catch (err) {
    return failed(err, "pair-error");
  }
  showLink(answer);
  pairing = { tokenId: answer.tokenId, expiresAtMs: answer.expiresAtMs, controller: new AbortController() };
  watch(pairing);
}

function showLink(answer) {
  $("pairing").hidden = false;
  setText("pair-instructions", answer.instructions ||
    (answer.deepLink ? "Open the link (or scan the code) on the device with the chat, then press Start." :
      "Send the command below to the bot in the chat you want to pair."));
  $("pair-link-row").hidden = !answer.deepLink;
  if (answer.deepLink) {
    $("pair-link").href = answer.deepLink;
    setText("pair-link", answer.deepLink);
  }
  const command = answer.startCommand || answer.token;
  $("pair-command-row").hidden = !command;
  setText("pair-command", command || "");
  const svg = answer.qrSvg || answer.qr;
  const qr = $("pair-qr");
  if (typeof svg === "string" && svg.trim().startsWith("<")) {
    // As an image, not inline markup: an <img> never runs scripts, and the CSP allows data: images only.
    qr.src = "data:image/svg+xml;base64," + base64(svg);
    qr.hidden = false;
  } else {
    qr.removeAttribute("src");
    qr.hidden = true;
  }
  setText("pair-status", "waiting for the chat…");
  setText("pair-expires", answer.expiresAtMs ? "The link expires " + when(answer.expiresAtMs) + "." : "");
  $("revoke-button").hidden = !answer.tokenId;
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return window.btoa(binary);
}

// Follow the link's status until it is no longer pending: long-poll the status route, or (a mux without tokenId)
// poll the bindings list for a binding that was not there before.
async function watch(current) {
  const signal = current.controller.signal;
  while (!signal.aborted) {
    if (current.expiresAtMs && Date.now() > current.expiresAtMs + 1000 && !current.tokenId) {
      return settle(current, { status: "expired" });
    }
    try {
      if (current.tokenId) {
        const answer = await getTokenStatus(current.tokenId, LONG_POLL_MS, signal);
        if (answer.status && answer.status !== "pending") return settle(current, answer);
      } else {
        await pause(FALLBACK_POLL_MS, signal);
        const items = (await listBindings("")).items || [];
        const fresh = items.find((b) => !knownBindings.has(b.bindingId));
        if (fresh) return settle(current, { status: "claimed", bindingId: fresh.bindingId, ...fresh });
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err.status === 401) return signOut();
      setText("pair-status", "waiting for the chat… (" + err.message + " Retrying.)");
      await pause(FALLBACK_POLL_MS, signal);  // the mux or the network hiccuped: keep watching, a bit slower
    }
  }
}

function settle(current, answer) {
  if (pairing !== current) return;
  const words = { claimed: "paired", expired: "expired", revoked: "cancelled" };
  let text = words[answer.status] || answer.status;
  if (answer.status === "claimed") {
    text = "paired: " + chatName({ routeKey: answer.routeKey || answer.bindingId || "", ...answer });
    refreshBindings();
  }
  setText("pair-status", text);
  $("pair-status").dataset.status = answer.status;
  $("revoke-button").hidden = true;
  pairing = null;
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

function stopWatching() {
  if (pairing) pairing.controller.abort();
  pairing = null;
}

async function revoke() {
  if (!pairing || !pairing.tokenId) return;
  const current = pairing;
  try {
    await revokeToken(current.tokenId);
  } catch (err) {
    return failed(err, "pair-error");
  }
  current.controller.abort();
  settle(current, { status: "revoked" });
}

async function refreshBindings() {
  setText("bindings-error", "");
  const channel = $("bindings-channel").value;
  let items = [];
  try {
    let cursor = null;
    for (let page = 0; page < 20; page++) {  // every page of the list (up to 2,000 chats for this example)
      const answer = await listBindings(channel, cursor);
      items = items.concat(answer.items || []);
      cursor = answer.nextCursor;
      if (!cursor) break;
    }
  } catch (err) {
    return failed(err, "bindings-error");
  }
  // A mux without the channel filter answers every binding: filter here too.
  if (channel) items = items.filter((b) => b.channel === channel);
  $("bindings-body").replaceChildren(...items.map(row));
  $("bindings-table").hidden = items.length === 0;
  $("bindings-empty").hidden = items.length !== 0;
  setText("bindings-status", items.length + " paired chat" + (items.length === 1 ? "" : "s") + ".");
}

function row(item) {
  const tr = document.createElement("tr");
  tr.dataset.bindingId = item.bindingId;
  const cells = [chatName(item), item.channel, chatType(item), item.routeKey, (item.sessionKeys || []).join(", "),
    when(item.createdAtMs)];
  cells.forEach((value, i) => {
    const td = document.createElement("td");
    if (i === 0 || i === 3 || i === 4) td.className = "wrap";  // names, route and session keys can be long
    td.textContent = value || "";
    tr.append(td);
  });
  const td = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Unbind";
  button.setAttribute("aria-label", "Unbind " + chatName(item));
  button.addEventListener("click", () => confirmUnbind(item));
  td.append(button);
  tr.append(td);
  return tr;
}

async function confirmUnbind(item) {
  if (!window.confirm("Unbind " + chatName(item) + "? Its messages will no longer reach your OpenClaw.")) return;
  try {
    await unbind(item.bindingId);
  } catch (err) {
    return failed(err, "bindings-error");
  }
  await refreshBindings();
}

function failed(err, where) {
  if (err.status === 401) {
    signOut();
    setText("signin-error", "The tenant key is no longer valid: sign in again.");
    return;
  }
  setText(where, err.message + (err.code ? " (" + err.code + ")" : ""));
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout-button").addEventListener("click", signOut);
  $("pair-form").addEventListener("submit", pair);
  $("channel").addEventListener("change", fillSessions);
  $("revoke-button").addEventListener("click", revoke);
  $("refresh-button").addEventListener("click", refreshBindings);
  $("bindings-channel").addEventListener("change", refreshBindings);
  if (tenantKey()) enter(); else show(false);
});
